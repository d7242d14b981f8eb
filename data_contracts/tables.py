"""The input contract as data: tables, columns, types, enums (docs/contracts.md: the checks).

The GX suites in `suites/`, the loader's typed views and the synthetic generator all
read this, so a column's type or an enum's values are written down exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["string", "enum", "int", "float", "bool", "date", "timestamp"]
NUMERIC_KINDS: tuple[Kind, ...] = ("int", "float")  # must hold finite numbers (no NaN, inf)

SEGMENTS = ("smb", "mid_market", "enterprise")
PERSONAS = ("executive", "champion", "admin", "end_user")
TICKET_PRIORITIES = ("low", "normal", "high", "urgent")
ACTIVITY_TYPES = (
    "reference_call",
    "case_study",
    "testimonial",
    "review",
    "referral",
    "speaking",
    "social_post",
    "advisory_board",
)
ACTIVITY_STATUSES = ("completed", "declined", "no_response", "pending", "cancelled")

# DuckDB type each kind is cast to when the loader builds typed views.
DUCKDB_TYPES: dict[Kind, str] = {
    "string": "VARCHAR",
    "enum": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()  # allowed values, for enums
    min_value: float | None = None
    max_value: float | None = None
    references: str | None = None  # "table.column" this column must exist in


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    time_column: str | None = None  # the column that says when a row happened
    fallback_time_column: str | None = None  # used where time_column is null
    large: bool = False  # validated in batches
    # A header-only file is a contract failure unless the table may be empty (docs/contracts.md).
    may_be_empty: bool = False
    # (later, earlier) pairs: later >= earlier wherever both are set
    column_pairs: tuple[tuple[str, str], ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


ACCOUNTS = Table(
    "accounts",
    (
        Column("account_id", "string", unique=True),
        Column("name", "string"),
        Column("industry", "string"),
        Column("segment", "enum", values=SEGMENTS),
        Column("region", "string"),
        Column("employees", "int", nullable=True, min_value=1),
        Column("arr", "float", min_value=0),
        Column("created_at", "date"),
        Column("renewal_date", "date", nullable=True),
        Column("churned_at", "date", nullable=True),
    ),
    time_column="created_at",
    column_pairs=(("churned_at", "created_at"),),
)

CONTACTS = Table(
    "contacts",
    (
        Column("contact_id", "string", unique=True),
        Column("account_id", "string", references="accounts.account_id"),
        Column("email", "string"),
        Column("full_name", "string", nullable=True),
        Column("title", "string", nullable=True),
        Column("persona", "enum", values=PERSONAS),
        Column("created_at", "date"),
        Column("do_not_contact", "bool"),
        Column("advocacy_opt_out_at", "timestamp", nullable=True),
    ),
    time_column="created_at",
)

NPS_RESPONSES = Table(
    "nps_responses",
    (
        Column("response_id", "string", unique=True),
        Column("contact_id", "string", references="contacts.contact_id"),
        Column("responded_at", "timestamp"),
        Column("score", "int", min_value=0, max_value=10),
        Column("comment", "string", nullable=True),
    ),
    time_column="responded_at",
)

USAGE_EVENTS = Table(
    "usage_events",
    (
        Column("contact_id", "string", references="contacts.contact_id"),
        Column("occurred_at", "timestamp"),
        Column("event", "string"),
    ),
    time_column="occurred_at",
    large=True,
)

SUPPORT_TICKETS = Table(
    "support_tickets",
    (
        Column("ticket_id", "string", unique=True),
        Column("account_id", "string", references="accounts.account_id"),
        Column("contact_id", "string", nullable=True, references="contacts.contact_id"),
        Column("opened_at", "timestamp"),
        Column("closed_at", "timestamp", nullable=True),
        Column("priority", "enum", values=TICKET_PRIORITIES),
        Column("csat", "int", nullable=True, min_value=1, max_value=5),
    ),
    time_column="opened_at",
    column_pairs=(("closed_at", "opened_at"),),
    may_be_empty=True,  # a help desk without a single ticket yet is a valid export
)

ADVOCACY_ACTIVITIES = Table(
    "advocacy_activities",
    (
        Column("activity_id", "string", unique=True),
        Column("contact_id", "string", references="contacts.contact_id"),
        Column("activity_type", "enum", values=ACTIVITY_TYPES),
        Column("requested_at", "timestamp", nullable=True),
        Column("status", "enum", values=ACTIVITY_STATUSES),
        Column("completed_at", "timestamp", nullable=True),
    ),
    time_column="requested_at",
    fallback_time_column="completed_at",  # unprompted acts have no requested_at
    column_pairs=(("completed_at", "requested_at"),),
)

# Optional: prospects in the sales pipeline that may need a reference (docs/matching.md).
# `products` is the product features the prospect cares about, as one delimited text
# (`;`, `,` or `|`), compared with the usage `event` names; a null `reference_type` means
# reference_call. Open at T: created_at < T and closed_at null (or at or after T).
OPPORTUNITIES = Table(
    "opportunities",
    (
        Column("opportunity_id", "string", unique=True),
        Column("prospect_name", "string"),
        Column("industry", "string"),
        Column("segment", "enum", values=SEGMENTS),
        Column("region", "string"),
        Column("products", "string", nullable=True),
        Column("stage", "string"),
        Column("amount", "float", nullable=True, min_value=0),
        Column("created_at", "timestamp"),
        Column("reference_needed_by", "date", nullable=True),
        Column("reference_type", "enum", nullable=True, values=ACTIVITY_TYPES),
        Column("closed_at", "timestamp", nullable=True),
    ),
    time_column="created_at",
    column_pairs=(("closed_at", "created_at"),),
    may_be_empty=True,  # a pipeline with no deal that needs a reference is a valid export
)

# The required input tables: every run reads all six.
TABLES: dict[str, Table] = {
    t.name: t
    for t in (ACCOUNTS, CONTACTS, NPS_RESPONSES, USAGE_EVENTS, SUPPORT_TICKETS, ADVOCACY_ACTIVITIES)
}
# Tables a folder may hold: validated and given a view only when their file is there; runs
# without them behave as if the feature they serve (matching) were off.
OPTIONAL_TABLES: dict[str, Table] = {OPPORTUNITIES.name: OPPORTUNITIES}
# Every table of the contract (one GX suite each).
CONTRACT_TABLES: dict[str, Table] = {**TABLES, **OPTIONAL_TABLES}
