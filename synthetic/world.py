"""generate(): write a whole synthetic data folder (the six input tables + opportunities).

The world is simulated week by week from `as_of - history_days` to `as_of + future_days`;
rows at or after `as_of` exist only when `future_days > 0` (to test that the pipeline
ignores them). Same arguments and seed -> byte-identical files.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from advocacy.data_contracts.load import FORMATS
from advocacy.data_contracts.tables import (
    ACCOUNTS,
    ADVOCACY_ACTIVITIES,
    CONTACTS,
    CONTRACT_TABLES,
    NPS_RESPONSES,
    OPPORTUNITIES,
    SUPPORT_TICKETS,
    USAGE_EVENTS,
)
from advocacy.synthetic import frames
from advocacy.synthetic.config import WorldConfig
from advocacy.synthetic.entities import check_regions, make_accounts, make_contacts
from advocacy.synthetic.opportunities import WRITTEN, opportunities_table
from advocacy.synthetic.simulate import simulate
from advocacy.synthetic.timeline import WEEK_DAYS, Timeline
from advocacy.synthetic.writers import Format, TableWriter, UsageBuffer, write_table

log = logging.getLogger(__name__)


def _check_args(contacts: int, fmt: str, history_days: int, future_days: int) -> None:
    if contacts < 1:
        raise ValueError(f"contacts must be >= 1, got {contacts}")
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    if history_days < WEEK_DAYS:
        raise ValueError(f"history_days must be >= {WEEK_DAYS}, got {history_days}")
    if future_days < 0:
        raise ValueError(f"future_days must be >= 0, got {future_days}")


def generate(
    out_dir: Path | str,
    *,
    contacts: int,
    seed: int = 0,
    as_of: date | None = None,
    fmt: Format = "parquet",
    history_days: int = 730,
    future_days: int = 0,
    config: WorldConfig | None = None,
) -> dict[str, int]:
    """Write `<table>.<fmt>` for the six input tables and the optional `opportunities` into
    out_dir; returns rows per table (contract order)."""
    cfg = config or WorldConfig()
    _check_args(contacts, fmt, history_days, future_days)
    check_regions(cfg)
    if isinstance(as_of, datetime):
        as_of = as_of.date()
    as_of = as_of or datetime.now(UTC).date()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tl = Timeline.build(as_of, history_days, future_days)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    acc = make_accounts(rng, cfg, contacts, tl)
    con = make_contacts(rng, cfg, acc, tl)
    cids = frames.contact_ids(con)
    with TableWriter(out, USAGE_EVENTS, fmt) as usage:
        sink = UsageBuffer(usage, cids, cfg.usage_chunk_rows)
        sim = simulate(rng, cfg, tl, acc, con, sink)
        sink.flush()
    aids = frames.account_ids(acc)
    names = frames.account_names(acc, seed)
    domains = frames.account_domains(cfg, acc, names)
    tables = {
        ACCOUNTS.name: frames.accounts_table(cfg, acc, aids, names, tl.as_of_day),
        CONTACTS.name: frames.contacts_table(cfg, con, acc, sim.state, cids, aids, domains, seed),
        NPS_RESPONSES.name: frames.nps_table(sim.nps, cids),
        SUPPORT_TICKETS.name: frames.tickets_table(sim.tickets, aids, cids),
        ADVOCACY_ACTIVITIES.name: frames.activities_table(sim.activities, cids),
    }
    rows = {n: write_table(out, CONTRACT_TABLES[n], data, fmt) for n, data in tables.items()}
    rows[USAGE_EVENTS.name] = usage.rows
    deals = opportunities_table(
        cfg, seed, tl, tables[ACCOUNTS.name], tables[CONTACTS.name], out / f"usage_events.{fmt}"
    )
    rows[OPPORTUNITIES.name] = write_table(out, WRITTEN, deals, fmt)
    elapsed = time.perf_counter() - started
    start = as_of - timedelta(days=history_days)
    log.info("generated %d contacts (%s..%s) in %.1fs: %s", contacts, start, as_of, elapsed, rows)
    return {name: rows[name] for name in CONTRACT_TABLES}
