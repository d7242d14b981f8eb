"""A tiny hand-made valid world of the six input tables, for contract and training-rows tests.

About ten rows per table; the last row of accounts and contacts is referenced by no other
table, so breaking it breaks exactly one rule. The world is fresh at AS_OF (day 83 after
2025-01-01): usage up to day 79, NPS up to day 49, tickets up to day 39, asks on days 50-59
(two with a closed 30-day response window).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

N = 10
LAST = N - 1
AS_OF = date(2025, 3, 25)


def ids(prefix: str, n: int = N) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(1, n + 1)]


def day_ts(day: int, hour: int = 9) -> pd.Timestamp:
    return pd.Timestamp("2025-01-01") + pd.Timedelta(days=day, hours=hour)


def valid_frames() -> dict[str, pd.DataFrame]:
    """A valid 6-table world; A010 and C010 have no children."""
    accounts, contacts = ids("A"), ids("C")
    parents = [*accounts[: N - 1], accounts[0]]
    people = [contacts[i % (N - 1)] for i in range(N)]
    created = [day_ts(i, 0).normalize() for i in range(N)]
    return {
        "accounts": pd.DataFrame(
            {
                "account_id": accounts,
                "name": [f"Company {i}" for i in range(N)],
                "industry": ["software", "retail"] * (N // 2),
                "segment": (["smb", "mid_market", "enterprise"] * N)[:N],
                "region": ["na", "emea"] * (N // 2),
                "employees": pd.array([None, *range(10, 10 * N, 10)], dtype="Int64"),
                "arr": [1000.0 * (i + 1) for i in range(N)],
                "created_at": [d.date() for d in created],
                "renewal_date": [None] + [(d + pd.Timedelta(days=365)).date() for d in created[1:]],
                "churned_at": [None] * LAST + [(created[LAST] + pd.Timedelta(days=30)).date()],
            }
        ),
        "contacts": pd.DataFrame(
            {
                "contact_id": contacts,
                "account_id": parents,
                "email": [f"person{i}@example.com" for i in range(N)],
                "full_name": [None] + [f"Person {i}" for i in range(1, N)],
                "title": ["CTO"] * N,
                "persona": (["executive", "champion", "admin", "end_user"] * N)[:N],
                "created_at": [d.date() for d in created],
                "do_not_contact": [False] * (N - 2) + [True, False],
                "advocacy_opt_out_at": [None] * LAST + [day_ts(40)],
            }
        ),
        "nps_responses": pd.DataFrame(
            {
                "response_id": ids("R"),
                "contact_id": people,
                "responded_at": [day_ts(40 + i) for i in range(N)],
                "score": list(range(N)),
                "comment": [None, *["fine"] * LAST],
            }
        ),
        "usage_events": pd.DataFrame(
            {
                "contact_id": people,
                "occurred_at": [day_ts(70 + i, 13) for i in range(N)],
                "event": (["login", "export"] * N)[:N],
            }
        ),
        "support_tickets": pd.DataFrame(
            {
                "ticket_id": ids("T"),
                "account_id": [accounts[i % (N - 1)] for i in range(N)],
                "contact_id": [None, *people[1:]],
                "opened_at": [day_ts(30 + i) for i in range(N)],
                "closed_at": [None, *[day_ts(32 + i) for i in range(1, N)]],
                "priority": (["low", "normal", "high", "urgent"] * N)[:N],
                "csat": pd.array([None, *[1 + i % 5 for i in range(1, N)]], dtype="Int64"),
            }
        ),
        "advocacy_activities": _activities(people),
    }


def _activities(people: list[str]) -> pd.DataFrame:
    """Row 0 a completed ask, row 1 an unprompted act, the last row a declined ask."""
    status = ["completed", "completed", "pending", "no_response", "cancelled"] * 2
    status[LAST] = "declined"
    requested = [day_ts(50 + i) for i in range(N)]
    requested[1] = None
    completed = [day_ts(55 + i) if s == "completed" else None for i, s in enumerate(status)]
    return pd.DataFrame(
        {
            "activity_id": ids("V"),
            "contact_id": people,
            "activity_type": (["reference_call", "review", "case_study"] * N)[:N],
            "requested_at": requested,
            "status": status,
            "completed_at": completed,
        }
    )


def write_folder(frames: dict[str, pd.DataFrame], folder: Path, fmt: str = "parquet") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        if fmt == "parquet":
            frame.to_parquet(folder / f"{name}.parquet", index=False)
        else:
            frame.to_csv(folder / f"{name}.csv", index=False)
    return folder
