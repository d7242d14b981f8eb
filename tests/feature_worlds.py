"""Hand-built worlds for the feature and label tests (tested in tests/unit/test_features_world.py).

`World` collects rows with sensible defaults, writes them as one CSV (or Parquet) file per
table, and opens them with the real loader, so every feature test runs the real SQL over
the real typed views.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from advocacy.data_contracts.load import connect
from advocacy.data_contracts.tables import TABLES

T = date(2024, 6, 3)  # a Monday; runs see the world at 00:00 UTC of T
T_TS = datetime(2024, 6, 3)
TIMELESS_ANSWERS = ("declined", "no_response", "cancelled")  # statuses with no time of their own


def ts(value: str | datetime | date) -> pd.Timestamp:
    return pd.Timestamp(value)


@dataclass
class World:
    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in TABLES}
    )
    _ids: itertools.count = field(default_factory=itertools.count)

    def _next(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}"

    def account(self, account_id: str = "A1", **kw: Any) -> World:
        row = dict(
            account_id=account_id,
            name=f"Account {account_id}",
            industry="software",
            segment="mid_market",
            region="emea",
            employees=250,
            arr=120_000.0,
            created_at="2020-01-01",
            renewal_date=None,
            churned_at=None,
        )
        self.rows["accounts"].append({**row, **kw})
        return self

    def contact(self, contact_id: str = "C1", account_id: str = "A1", **kw: Any) -> World:
        row = dict(
            contact_id=contact_id,
            account_id=account_id,
            email=f"{contact_id.lower()}@example.com",
            full_name=f"Person {contact_id}",
            title="Head of Ops",
            persona="champion",
            created_at="2020-01-01",
            do_not_contact=False,
            advocacy_opt_out_at=None,
        )
        self.rows["contacts"].append({**row, **kw})
        return self

    def nps(
        self, contact_id: str, responded_at: Any, score: int, comment: str | None = None
    ) -> World:
        self.rows["nps_responses"].append(
            dict(
                response_id=self._next("R"),
                contact_id=contact_id,
                responded_at=ts(responded_at),
                score=score,
                comment=comment,
            )
        )
        return self

    def usage(self, contact_id: str, occurred_at: Any, event: str = "login", n: int = 1) -> World:
        for _ in range(n):
            self.rows["usage_events"].append(
                dict(contact_id=contact_id, occurred_at=ts(occurred_at), event=event)
            )
        return self

    def ticket(
        self,
        account_id: str,
        opened_at: Any,
        closed_at: Any = None,
        priority: str = "normal",
        csat: int | None = None,
        contact_id: str | None = None,
    ) -> World:
        self.rows["support_tickets"].append(
            dict(
                ticket_id=self._next("T"),
                account_id=account_id,
                contact_id=contact_id,
                opened_at=ts(opened_at),
                closed_at=None if closed_at is None else ts(closed_at),
                priority=priority,
                csat=csat,
            )
        )
        return self

    def activity(
        self,
        contact_id: str,
        requested_at: Any = None,
        status: str = "completed",
        completed_at: Any = None,
        activity_type: str = "review",
        activity_id: str | None = None,
    ) -> World:
        self.rows["advocacy_activities"].append(
            dict(
                activity_id=activity_id or self._next("X"),
                contact_id=contact_id,
                activity_type=activity_type,
                requested_at=None if requested_at is None else ts(requested_at),
                status=status,
                completed_at=None if completed_at is None else ts(completed_at),
            )
        )
        return self

    def frame(self, table: str) -> pd.DataFrame:
        columns = list(TABLES[table].column_names)
        return pd.DataFrame(self.rows[table], columns=columns)

    def write(self, folder: Path, fmt: str = "csv") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        for table in TABLES:
            frame = self.frame(table)
            if fmt == "csv":
                frame.to_csv(folder / f"{table}.csv", index=False)
            else:
                _parquet_ready(frame, table).to_parquet(folder / f"{table}.parquet", index=False)
        return folder

    def connect(self, folder: Path, fmt: str = "csv"):
        return connect(self.write(folder, fmt))

    def cut(self, at: datetime, unsettled_days: int | None = None) -> World:
        """The export of this world taken at `at`: later rows gone, later changes undone.

        Declines, no-responses and cancellations carry no time, so this export keeps them as
        they are; with `unsettled_days`, such an ask whose window of that many days is still
        open at `at` is pending in the export instead: its answer is not given yet. Features
        must not tell the two exports apart (`features.state` waits for the window).
        """
        at = pd.Timestamp(at)
        out = World()

        def seen(value: Any) -> bool:
            return value is not None and not pd.isna(value) and pd.Timestamp(value) < at

        def known(value: Any) -> Any:
            return value if seen(value) else None

        for row in self.rows["accounts"]:
            if seen(row["created_at"]):
                out.rows["accounts"].append({**row, "churned_at": known(row["churned_at"])})
        for row in self.rows["contacts"]:
            if seen(row["created_at"]):
                opt_out = known(row["advocacy_opt_out_at"])
                out.rows["contacts"].append({**row, "advocacy_opt_out_at": opt_out})
        out.rows["nps_responses"] = [
            r for r in self.rows["nps_responses"] if seen(r["responded_at"])
        ]
        out.rows["usage_events"] = [r for r in self.rows["usage_events"] if seen(r["occurred_at"])]
        for row in self.rows["support_tickets"]:
            if seen(row["opened_at"]):
                closed = seen(row["closed_at"])
                csat = row["csat"] if closed else None
                out.rows["support_tickets"].append(
                    {**row, "closed_at": known(row["closed_at"]), "csat": csat}
                )
        for row in self.rows["advocacy_activities"]:
            if not seen(
                row["requested_at"] if row["requested_at"] is not None else row["completed_at"]
            ):
                continue
            if row["status"] == "completed" and not seen(row["completed_at"]):
                row = {**row, "status": "pending", "completed_at": None}
            if unsettled_days is not None and _unsettled(row, unsettled_days, seen):
                row = {**row, "status": "pending"}
            out.rows["advocacy_activities"].append(row)
        return out


def _unsettled(row: dict[str, Any], days: int, seen: Callable[[Any], bool]) -> bool:
    """A declined, unanswered or cancelled ask whose `days`-day window is open when exported."""
    if row["status"] not in TIMELESS_ANSWERS or row["requested_at"] is None:
        return False
    return not seen(pd.Timestamp(row["requested_at"]) + pd.Timedelta(days=days))


def _parquet_ready(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Typed columns for Parquet (CSV is typed by the loader's casts)."""
    out = frame.copy()
    for col in TABLES[table].columns:
        if col.kind in ("date", "timestamp"):
            out[col.name] = pd.to_datetime(out[col.name])
        elif col.kind in ("int", "float"):
            out[col.name] = pd.to_numeric(out[col.name]).astype("float64")
        elif col.kind == "bool":
            out[col.name] = out[col.name].astype("bool")
        else:
            out[col.name] = out[col.name].astype("object")
    return out


def one_contact_world(**contact: Any) -> World:
    """The smallest useful world: account A1 with contact C1."""
    return World().account().contact(**contact)


EVENT_KEYS = (
    "login",
    "report_created",
    "dashboard_viewed",
    "export",
    "invite_sent",
    "integration_added",
)
ACTIVITY_TYPES = ("reference_call", "case_study", "review", "referral")


def random_world(seed: int, as_of: date = T, contacts: int = 10) -> World:
    """A small random world whose rows straddle T, with times often on the edges that matter.

    Every row happens after its contact and account were created (a real export's order), so
    cutting the world at any time gives a consistent world.
    """
    rng = np.random.default_rng(seed)
    t_end = pd.Timestamp(as_of)
    world = World()
    for a in range(3):
        created = t_end - pd.Timedelta(days=int(rng.integers(400, 900)))
        churn = _maybe(rng, t_end + pd.Timedelta(days=int(rng.integers(-200, 60))), 0.3)
        renewal = _maybe(rng, (t_end + pd.Timedelta(days=int(rng.integers(-60, 300)))).date(), 0.7)
        world.account(
            f"A{a}",
            created_at=created.date().isoformat(),
            churned_at=None if churn is None else churn.date().isoformat(),
            renewal_date=None if renewal is None else renewal.isoformat(),
            employees=_maybe(rng, int(rng.integers(5, 5000)), 0.8),
            segment=str(rng.choice(["smb", "mid_market", "enterprise"])),
        )
    world.account("A9", created_at=(t_end + pd.Timedelta(days=3)).date().isoformat())
    for c in range(contacts):
        cid, aid = f"C{c:02d}", f"A{int(rng.integers(0, 3))}"
        created = t_end - pd.Timedelta(days=int(rng.integers(300, 800)))
        opt_out = _maybe(rng, _when(rng, t_end), 0.25)
        world.contact(
            cid,
            aid,
            created_at=created.date().isoformat(),
            advocacy_opt_out_at=opt_out,
            persona=str(rng.choice(["executive", "champion", "admin", "end_user"])),
            do_not_contact=bool(rng.random() < 0.1),
        )
        _random_history(world, rng, cid, t_end)
    world.contact("C99", "A9", created_at=(t_end + pd.Timedelta(days=5)).date().isoformat())
    world.usage("C99", t_end + pd.Timedelta(days=6)).nps("C99", t_end + pd.Timedelta(days=7), 3)
    for a in range(3):
        _random_tickets(world, rng, f"A{a}", t_end)
    return world


def _maybe(rng: np.random.Generator, value: Any, p: float) -> Any:
    return value if rng.random() < p else None


def _edges(t_end: pd.Timestamp) -> list[pd.Timestamp]:
    """Instants where a rule changes: T, label windows, the burnout snapshot grid."""
    grid = [t_end - pd.Timedelta(days=90 + 28 * k) for k in range(8)]
    spans = [t_end - pd.Timedelta(days=d) for d in (30, 90, 120, 180)]
    edges = [t_end, *grid, *spans, *(s + pd.Timedelta(days=90) for s in grid)]
    return edges + [e - pd.Timedelta(microseconds=1) for e in edges]


def _when(rng: np.random.Generator, t_end: pd.Timestamp, back: int = 200) -> pd.Timestamp:
    """A time around T: often exactly on an edge (T, a snapshot, ...) or a midnight."""
    u = rng.random()
    if u < 0.3:
        edges = _edges(t_end)
        return edges[int(rng.integers(0, len(edges)))]
    day = t_end + pd.Timedelta(days=int(rng.integers(-back, 30)))
    return day if u < 0.45 else day + pd.Timedelta(seconds=int(rng.integers(0, 86_400)))


def _random_history(world: World, rng: np.random.Generator, cid: str, t_end: pd.Timestamp) -> None:
    for _ in range(int(rng.integers(0, 40))):
        world.usage(
            cid, _when(rng, t_end, 150), str(rng.choice(EVENT_KEYS)), int(rng.integers(1, 3))
        )
    for _ in range(int(rng.integers(0, 5))):
        comment = rng.choice(["", "   ", "Great product", None])
        world.nps(cid, _when(rng, t_end), int(rng.integers(0, 11)), comment)
    for _ in range(int(rng.integers(0, 6))):
        kind = str(rng.choice(ACTIVITY_TYPES))
        if rng.random() < 0.2:  # unprompted act
            world.activity(cid, None, "completed", _when(rng, t_end), kind)
            continue
        asked = _when(rng, t_end, 300)
        status = str(
            rng.choice(
                ["completed", "completed", "declined", "no_response", "pending", "cancelled"]
            )
        )
        late = int(rng.choice([0, 10, 30, 31, 45]))
        done = asked + pd.Timedelta(days=late) if status == "completed" else None
        if done is not None and asked < t_end and rng.random() < 0.2:
            done = t_end  # completed exactly at T: still pending at T
        world.activity(cid, asked, status, done, kind)


def _random_tickets(world: World, rng: np.random.Generator, aid: str, t_end: pd.Timestamp) -> None:
    for _ in range(int(rng.integers(0, 8))):
        opened = _when(rng, t_end)
        closed = _maybe(rng, opened + pd.Timedelta(hours=int(rng.integers(0, 2000))), 0.7)
        if closed is not None and opened < t_end and rng.random() < 0.25:
            closed = t_end  # closed exactly at T: still open at T
        csat = None if closed is None or rng.random() < 0.3 else int(rng.integers(1, 6))
        priority = str(rng.choice(["low", "normal", "high", "urgent"]))
        world.ticket(aid, opened, closed, priority, csat)
