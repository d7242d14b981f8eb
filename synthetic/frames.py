"""Turn simulated arrays into Arrow tables that follow the input contract.

Text (ids, names, e-mails, comments) is built with Arrow compute from small pools and
index arrays, so even 100M usage rows never become Python strings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from advocacy.data_contracts.tables import (
    ACCOUNTS,
    ACTIVITY_STATUSES,
    ACTIVITY_TYPES,
    ADVOCACY_ACTIVITIES,
    CONTACTS,
    NPS_RESPONSES,
    PERSONAS,
    SEGMENTS,
    SUPPORT_TICKETS,
    TICKET_PRIORITIES,
    USAGE_EVENTS,
    Kind,
    Table,
)
from advocacy.synthetic.config import WorldConfig
from advocacy.synthetic.entities import Accounts, Contacts, region_keys
from advocacy.synthetic.pools import (
    EVENT_BASE,
    INDUSTRIES,
    INDUSTRY_SUFFIXES,
    PERSONA_TITLES,
    REGION_TLDS,
    build_comment_pools,
    build_company_pools,
    build_name_pools,
)
from advocacy.synthetic.simulate import NULL, ContactState, Rows
from advocacy.synthetic.timeline import NEVER, first_anniversary_from

ARROW_TYPES: dict[Kind, pa.DataType] = {
    "string": pa.string(),
    "enum": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}
FULL_COMPANY_NAME_SHARE = 0.35  # the rest are "<stem> <industry suffix>"
EMAIL_PATTERN_SHARES = (0.55, 0.2, 0.1, 0.1, 0.05)  # see _email_local
EMAIL_MAX_NUMBER = 98  # first.last42
US_PER_SEC = 1_000_000
# Dropped from a company name for its domain: "Jenkins, Decker and Rodriguez" -> jenkins.com.
COMPANY_FORM = r"(,.*| and .*| (LLC|PLC|Inc|Ltd|Group|Co\.)$)"


def arrow_schema(table: Table) -> pa.Schema:
    """The Arrow schema a contract table is written with."""
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.kind], c.nullable) for c in table.columns])


def build(table: Table, columns: dict[str, pa.Array]) -> pa.Table:
    """Columns in the contract's order and types (a missing column fails here)."""
    schema = arrow_schema(table)
    return pa.table([columns[f.name] for f in schema], schema=schema)


def make_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """'C0004711'-style ids; the width grows when the numbers need it."""
    width = max(width, len(str(int(numbers.max())))) if len(numbers) else width
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def ranked_numbers(created_day: np.ndarray) -> np.ndarray:
    """Id numbers 1..n in order of creation (ties by internal order), like a CRM sequence."""
    order = np.argsort(created_day, kind="stable")
    numbers = np.empty(len(order), dtype=np.int64)
    numbers[order] = np.arange(1, len(order) + 1)
    return numbers


def timestamps(sec: np.ndarray) -> pa.Array:
    """Seconds (NULL or NEVER = missing) to naive timestamp[us]."""
    missing = (sec == NULL) | (sec == NEVER)
    return pa.array(np.where(missing, 0, sec) * US_PER_SEC, pa.timestamp("us"), mask=missing)


def dates(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Day numbers (NEVER or `missing` = null) to date32."""
    missing = (days == NEVER) if missing is None else missing | (days == NEVER)
    return pa.array(np.where(missing, 0, days).astype(np.int32), pa.date32(), mask=missing)


def pick(
    pool: np.ndarray, offsets: np.ndarray, sizes: np.ndarray, group: np.ndarray, u: np.ndarray
) -> pa.Array:
    """For each row, the pool entry at fraction u of its group's slice of the pool."""
    index = offsets[group] + np.minimum((u * sizes[group]).astype(np.int64), sizes[group] - 1)
    return pc.take(pa.array(pool, pa.string()), pa.array(index))


def _flat(groups: list[tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grouped word lists as (pool, offsets, sizes) for `pick`."""
    sizes = np.array([len(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return np.array([x for g in groups for x in g], dtype=object), offsets, sizes


def account_names(acc: Accounts, seed: int) -> pa.Array:
    """'Chang-Fisher' (a Faker company) or '<stem> <industry suffix>' ('Cedar Health')."""
    stems, companies = build_company_pools(seed)
    u = acc.name_seed
    zero = np.zeros(acc.n, dtype=np.int64)
    full = pick(companies, np.array([0]), np.array([len(companies)]), zero, u[:, 1])
    stem = pick(stems, np.array([0]), np.array([len(stems)]), zero, u[:, 1])
    suffix = pick(*_flat([INDUSTRY_SUFFIXES[i] for i in INDUSTRIES]), acc.industry, u[:, 2])
    composed = pc.binary_join_element_wise(stem, suffix, " ")
    return pc.if_else(pa.array(u[:, 0] < FULL_COMPANY_NAME_SHARE), full, composed)


def account_domains(cfg: WorldConfig, acc: Accounts, names: pa.Array) -> pa.Array:
    """'Cedar Health' in emea -> 'cedarhealth.de', 'Wagner LLC' -> 'wagner.com'."""
    short = pc.replace_substring_regex(names, pattern=COMPANY_FORM, replacement="")
    slug = pc.replace_substring_regex(pc.utf8_lower(short), pattern="[^a-z0-9]+", replacement="")
    tlds = _flat([REGION_TLDS[r] for r in region_keys(cfg)])
    return pc.binary_join_element_wise(slug, pick(*tlds, acc.region, acc.name_seed[:, 3]), "")


def renewal_dates(acc: Accounts, as_of_day: int) -> np.ndarray:
    """The CRM's renewal date: the first renewal on or after as_of, or for a churned
    account the renewal it churned at. An account that churns after as_of then shows the
    same date as one that renews, so the column says nothing about the future."""
    _, upcoming = first_anniversary_from(acc.created_day, as_of_day)
    return np.where(acc.churn_day == NEVER, upcoming, acc.churn_day)


def account_ids(acc: Accounts) -> pa.Array:
    """Account ids in internal order, numbered by creation date."""
    return make_ids("A", ranked_numbers(acc.created_day), 6)


def accounts_table(
    cfg: WorldConfig, acc: Accounts, ids: pa.Array, names: pa.Array, as_of_day: int
) -> pa.Table:
    """The accounts table; `ids` and `names` are in internal order."""
    cols = {
        "account_id": ids,
        "name": names,
        "industry": pc.take(pa.array(INDUSTRIES), pa.array(acc.industry)),
        "segment": pc.take(pa.array(SEGMENTS), pa.array(acc.segment)),
        "region": pc.take(pa.array(region_keys(cfg)), pa.array(acc.region)),
        "employees": pa.array(acc.employees, pa.int64(), mask=acc.employees < 1),
        "arr": pa.array(acc.arr, pa.float64()),
        "created_at": dates(acc.created_day),
        "renewal_date": dates(renewal_dates(acc, as_of_day), acc.renewal_missing),
        "churned_at": dates(acc.churn_day),
    }
    return _sorted(build(ACCOUNTS, cols), "account_id")


def _sorted(table: pa.Table, key: str) -> pa.Table:
    return table.sort_by([(key, "ascending")])


def _email_local(first: pa.Array, last: pa.Array, u: np.ndarray, digits: np.ndarray) -> pa.Array:
    """Common corporate patterns: first.last, flast, first_last, first.last42, firstl."""
    initial_f = pc.utf8_slice_codeunits(first, 0, 1)
    initial_l = pc.utf8_slice_codeunits(last, 0, 1)
    number = pc.cast(pa.array(digits), pa.string())
    variants = [
        pc.binary_join_element_wise(first, last, "."),
        pc.binary_join_element_wise(initial_f, last, ""),
        pc.binary_join_element_wise(first, last, "_"),
        pc.binary_join_element_wise(first, ".", last, number, ""),
        pc.binary_join_element_wise(first, initial_l, ""),
    ]
    cum = np.cumsum(EMAIL_PATTERN_SHARES)
    which = np.minimum(np.searchsorted(cum, u), len(variants) - 1)
    return pc.choose(pa.array(which.astype(np.int8)), *variants)


def contacts_table(
    cfg: WorldConfig,
    con: Contacts,
    acc: Accounts,
    st: ContactState,
    ids: pa.Array,
    account_ids: pa.Array,
    domains: pa.Array,
    seed: int,
) -> pa.Table:
    """The contacts table; `ids`, `account_ids` and `domains` are in internal order."""
    pools = build_name_pools(region_keys(cfg), seed)
    region, u = acc.region[con.account], con.name_seed
    first = pick(pools.first, pools.first_offsets, pools.first_sizes, region, u[:, 0])
    last = pick(pools.last, pools.last_offsets, pools.last_sizes, region, u[:, 1])
    first_a = pick(pools.first_ascii, pools.first_offsets, pools.first_sizes, region, u[:, 0])
    last_a = pick(pools.last_ascii, pools.last_offsets, pools.last_sizes, region, u[:, 1])
    number = 1 + (u[:, 3] * EMAIL_MAX_NUMBER).astype(np.int64)
    local = _email_local(first_a, last_a, u[:, 2], number)
    email = pc.binary_join_element_wise(local, pc.take(domains, pa.array(con.account)), "@")
    titles = _flat([PERSONA_TITLES[p] for p in PERSONAS])
    cols = {
        "contact_id": ids,
        "account_id": pc.take(account_ids, pa.array(con.account)),
        "email": email,
        "full_name": _with_nulls(pc.binary_join_element_wise(first, last, " "), con.name_missing),
        "title": _with_nulls(pick(*titles, con.persona, u[:, 4]), con.title_missing),
        "persona": pc.take(pa.array(PERSONAS), pa.array(con.persona)),
        "created_at": dates(con.created_day),
        "do_not_contact": pa.array(con.do_not_contact),
        "advocacy_opt_out_at": timestamps(st.opt_out_sec),
    }
    return _sorted(build(CONTACTS, cols), "contact_id")


def contact_ids(con: Contacts) -> pa.Array:
    """Contact ids in internal order, numbered by creation date."""
    return make_ids("C", ranked_numbers(con.created_day), 7)


def _with_nulls(values: pa.Array, missing: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(missing), pa.scalar(None, values.type), values)


def _time_order(*keys: np.ndarray) -> np.ndarray:
    """Row order by time (first key), ties broken by the later keys; deterministic."""
    return np.lexsort(tuple(reversed(keys)))


def nps_table(rows: Rows, contact_ids: pa.Array) -> pa.Table:
    order = _time_order(rows["responded"], rows["contact"])
    r = {k: v[order] for k, v in rows.items()}
    comments, offsets, sizes = build_comment_pools()
    kind = np.maximum(r["comment_kind"], 0)
    comment = pick(comments, offsets, sizes, kind, r["comment_u"])
    cols = {
        "response_id": make_ids("R", np.arange(1, len(order) + 1), 8),
        "contact_id": pc.take(contact_ids, pa.array(r["contact"])),
        "responded_at": timestamps(r["responded"]),
        "score": pa.array(r["score"].astype(np.int64)),
        "comment": _with_nulls(comment, r["comment_kind"] == NULL),
    }
    return build(NPS_RESPONSES, cols)


def tickets_table(rows: Rows, account_ids: pa.Array, contact_ids: pa.Array) -> pa.Table:
    order = _time_order(rows["opened"], rows["account"])
    r = {k: v[order] for k, v in rows.items()}
    contact = np.maximum(r["contact"], 0)
    cols = {
        "ticket_id": make_ids("T", np.arange(1, len(order) + 1), 7),
        "account_id": pc.take(account_ids, pa.array(r["account"])),
        "contact_id": _with_nulls(pc.take(contact_ids, pa.array(contact)), r["contact"] == NULL),
        "opened_at": timestamps(r["opened"]),
        "closed_at": timestamps(r["closed"]),
        "priority": pc.take(pa.array(TICKET_PRIORITIES), pa.array(r["priority"])),
        "csat": pa.array(r["csat"].astype(np.int64), mask=r["csat"] == 0),
    }
    return build(SUPPORT_TICKETS, cols)


def activities_table(rows: Rows, contact_ids: pa.Array) -> pa.Table:
    when = np.where(rows["requested"] == NULL, rows["completed"], rows["requested"])
    order = _time_order(when, rows["contact"], rows["kind"])
    r = {k: v[order] for k, v in rows.items()}
    cols = {
        "activity_id": make_ids("ADV", np.arange(1, len(order) + 1), 7),
        "contact_id": pc.take(contact_ids, pa.array(r["contact"])),
        "activity_type": pc.take(pa.array(ACTIVITY_TYPES), pa.array(r["kind"])),
        "requested_at": timestamps(r["requested"]),
        "status": pc.take(pa.array(ACTIVITY_STATUSES), pa.array(r["status"])),
        "completed_at": timestamps(r["completed"]),
    }
    return build(ADVOCACY_ACTIVITIES, cols)


def usage_table(
    contact: np.ndarray, sec: np.ndarray, code: np.ndarray, contact_ids: pa.Array
) -> pa.Table:
    """One chunk of usage events; contact indices become ids only here."""
    cols = {
        "contact_id": pc.take(contact_ids, pa.array(contact)),
        "occurred_at": pa.array(sec * US_PER_SEC, pa.timestamp("us")),
        "event": pc.take(pa.array(list(EVENT_BASE)), pa.array(code)),
    }
    return build(USAGE_EVENTS, cols)
