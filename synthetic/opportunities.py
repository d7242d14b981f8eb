"""The optional `opportunities` table: prospects in the pipeline, with a true reference effect.

About one open opportunity per `contacts_per_open_opportunity` contacts (at least
`opportunities_min_open`), plus closed ones before T whose outcome follows the truth in
docs/synthetic-data.md ("Opportunities"): a deal that got a reference from a similar customer
(same industry, segment, region, uses the products the prospect wants) is more likely won.
Who gave the reference is written in the extra column `reference_contact_id` (not part of the
contract; the loader drops it), so the fit weights can be tuned from outcomes
(docs/matching.md). Drawn from its own random stream: the six tables do not change with it.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from advocacy.data_contracts.load import new_connection, source_sql, typed_select
from advocacy.data_contracts.tables import OPPORTUNITIES, SEGMENTS, USAGE_EVENTS, Column
from advocacy.synthetic.config import WorldConfig
from advocacy.synthetic.entities import region_keys
from advocacy.synthetic.pools import EVENT_BASE, INDUSTRIES, INDUSTRY_WEIGHTS
from advocacy.synthetic.timeline import DAY, Timeline

EPOCH = date(1970, 1, 1)
STREAM = 14  # the random stream's key next to the seed
OPEN_STAGES = ("discovery", "evaluation", "proposal", "negotiation")
PRODUCTS = tuple(e for e in EVENT_BASE if e != "login")  # what a prospect can care about
USED_DAYS = 90  # the reference's product use: events in the 90 days before the deal closed
# The table as the generator writes it: the contract plus who gave the reference (the truth).
WRITTEN = dataclasses.replace(
    OPPORTUNITIES,
    columns=(*OPPORTUNITIES.columns, Column("reference_contact_id", "string", nullable=True)),
)


def opportunities_table(
    cfg: WorldConfig,
    seed: int,
    tl: Timeline,
    accounts: pa.Table,
    contacts: pa.Table,
    usage_path: Path,
) -> pa.Table:
    """Open and closed opportunities (WRITTEN's columns), closed ones won or lost by the truth."""
    rng = np.random.default_rng([seed, STREAM])
    n_open = max(cfg.opportunities_min_open, round(contacts.num_rows / cfg.contacts_per_open_opp))
    n_closed = round(n_open * cfg.closed_opportunities_per_open)
    deals = _prospects(rng, cfg, n_open + n_closed)
    deals = _times(rng, tl, deals, n_open)
    deals = _references(rng, cfg, deals, accounts, contacts, usage_path)
    return pa.Table.from_pandas(_finish(rng, cfg, deals, n_open), preserve_index=False)


def _prospects(rng: np.random.Generator, cfg: WorldConfig, n: int) -> pd.DataFrame:
    seg_p = np.array([cfg.segment_mix[s] for s in SEGMENTS])
    segment = rng.choice(len(SEGMENTS), size=n, p=seg_p / seg_p.sum())
    mix = INDUSTRY_WEIGHTS / INDUSTRY_WEIGHTS.sum(axis=1, keepdims=True)
    industry = np.array([rng.choice(len(INDUSTRIES), p=mix[s]) for s in segment], dtype=int)
    regions = region_keys(cfg)
    reg_p = np.array([cfg.region_mix[r] for r in regions])
    prod_p = np.array([EVENT_BASE[e] for e in PRODUCTS])
    products = [
        sorted(rng.choice(PRODUCTS, size=k, replace=False, p=prod_p / prod_p.sum()))
        for k in rng.integers(1, 4, size=n)
    ]
    median = np.array([cfg.arr_median[s] for s in SEGMENTS])[segment]
    return pd.DataFrame(
        {
            "industry": np.array(INDUSTRIES)[industry],
            "segment": np.array(SEGMENTS)[segment],
            "region": np.array(regions)[rng.choice(len(regions), size=n, p=reg_p / reg_p.sum())],
            "products": products,
            "amount": np.round(median * rng.lognormal(0.0, 0.5, n), 2),
        }
    )


def _times(
    rng: np.random.Generator, tl: Timeline, deals: pd.DataFrame, n_open: int
) -> pd.DataFrame:
    """Open deals: created in the 60 days before T. Closed: open 14-90 days, closed before T."""
    n, span = len(deals), max(tl.as_of_day - tl.start_day, 2)
    is_open = np.arange(n) < n_open
    age = rng.integers(1, 61, n)
    length = rng.integers(14, 91, n)
    closed_ago = rng.integers(1, max(min(span - 91, 365), 2), n)
    created_day = np.where(is_open, tl.as_of_day - age, tl.as_of_day - closed_ago - length)
    created_day = np.maximum(created_day, tl.start_day)
    created = created_day * DAY + rng.integers(8 * 3600, 18 * 3600, n)
    closed = np.where(is_open, -1, created + length * DAY)
    closed = np.where(closed >= tl.as_of_day * DAY, tl.as_of_day * DAY - 3600, closed)
    needed = np.where(rng.random(n) < 0.3, -1, created_day + rng.integers(14, 61, n))
    return deals.assign(is_open=is_open, created=created, closed=closed, needed_day=needed)


def _references(
    rng: np.random.Generator,
    cfg: WorldConfig,
    deals: pd.DataFrame,
    accounts: pa.Table,
    contacts: pa.Table,
    usage_path: Path,
) -> pd.DataFrame:
    """Closed deals: some got a reference from a customer sales picked (the same industry half
    the time, else anyone) among contacts created before the deal; the reference's similarity
    to the prospect moves the chance the deal was won."""
    people = contacts.select(["contact_id", "account_id", "created_at"]).to_pandas()
    people = people.merge(
        accounts.select(["account_id", "industry", "segment", "region"]).to_pandas(), how="left"
    )
    created = people["created_at"].to_numpy().astype("datetime64[s]").astype(np.int64)
    pools = _pools(created, people["industry"].to_numpy())
    closed = ~deals["is_open"].to_numpy()
    asked = closed & (rng.random(len(deals)) < cfg.opportunity_reference_rate)
    same = rng.random(len(deals)) < 0.5
    ref = np.full(len(deals), -1, dtype=np.int64)
    for i in np.flatnonzero(asked):
        key = deals.at[i, "industry"] if same[i] and deals.at[i, "industry"] in pools else None
        idx, when = pools[key]
        k = int(np.searchsorted(when, deals.at[i, "created"]))
        ref[i] = idx[rng.integers(k)] if k else -1
    ids = people["contact_id"].to_numpy(dtype=object)
    deals = deals.assign(reference_contact_id=np.where(ref >= 0, ids[np.maximum(ref, 0)], None))
    used = _features_used(usage_path, deals)
    sim = _similarity(cfg, deals, people, ref, used)
    logit = cfg.opportunity_win_logit + cfg.opportunity_reference_lift * sim
    won = rng.random(len(deals)) < 1 / (1 + np.exp(-logit))
    return deals.assign(won=won)


def _pools(
    created: np.ndarray, industry: np.ndarray
) -> dict[str | None, tuple[np.ndarray, np.ndarray]]:
    """Contact indices sorted by creation (all, and per industry), with their creation times."""
    order = np.argsort(created, kind="stable")
    pools: dict[str | None, tuple[np.ndarray, np.ndarray]] = {None: (order, created[order])}
    for ind in np.unique(industry[order].astype(str)):
        idx = order[industry[order] == ind]
        pools[ind] = (idx, created[idx])
    return pools


def _features_used(usage_path: Path, deals: pd.DataFrame) -> dict[tuple[str, int], set[str]]:
    """(reference contact, deal close second) -> events used in the 90 days before the close."""
    pairs = deals.loc[deals["reference_contact_id"].notna(), ["reference_contact_id", "closed"]]
    if pairs.empty:
        return {}
    pairs = pairs.assign(t=pd.to_datetime(pairs["closed"], unit="s"))
    text = usage_path.suffix != ".parquet"
    usage = typed_select(USAGE_EVENTS, source_sql(usage_path), text=text)
    con = new_connection(threads=2)
    try:
        con.register("_pairs", pairs)
        rows = con.execute(
            f"""SELECT p.reference_contact_id, p.closed, list(DISTINCT u.event) AS events
                FROM _pairs p JOIN ({usage}) u ON u.contact_id = p.reference_contact_id
                 AND u.occurred_at < p.t AND u.occurred_at >= p.t - INTERVAL {USED_DAYS} DAY
                GROUP BY ALL"""
        ).fetchall()
    finally:
        con.close()
    return {(c, int(t)): set(e) for c, t, e in rows}


def _similarity(
    cfg: WorldConfig,
    deals: pd.DataFrame,
    people: pd.DataFrame,
    ref: np.ndarray,
    used: dict[tuple[str, int], set[str]],
) -> np.ndarray:
    """The true fit of each deal's reference to the prospect in [0, 1]; 0 without one."""
    w = cfg.opportunity_fit_weights
    out = np.zeros(len(deals))
    for i in np.flatnonzero(ref >= 0):
        who, deal = people.iloc[int(ref[i])], deals.iloc[i]
        feats = used.get((deal["reference_contact_id"], int(deal["closed"])), set())
        wanted = set(deal["products"])
        parts = {
            "industry": float(who["industry"] == deal["industry"]),
            "segment": float(who["segment"] == deal["segment"]),
            "region": float(who["region"] == deal["region"]),
            "products": len(feats & wanted) / len(feats | wanted) if feats | wanted else 0.0,
        }
        out[i] = sum(w[k] * parts[k] for k in parts) / sum(w.values())
    return out


def _finish(
    rng: np.random.Generator, cfg: WorldConfig, deals: pd.DataFrame, n_open: int
) -> pd.DataFrame:
    n = len(deals)
    order = np.argsort(deals["created"].to_numpy(), kind="stable")
    deals = deals.iloc[order].reset_index(drop=True)
    is_open = deals["is_open"].to_numpy()
    stage = np.where(deals["won"], "closed_won", "closed_lost").astype(object)
    stage[is_open] = rng.choice(OPEN_STAGES, size=int(is_open.sum()))
    types = list(cfg.opportunity_reference_types)
    type_p = np.array([cfg.opportunity_reference_types[t] for t in types])
    needed = deals["needed_day"].to_numpy()
    return pd.DataFrame(
        {
            "opportunity_id": [f"O{i:06d}" for i in range(1, n + 1)],
            "prospect_name": [f"Prospect {i:04d}" for i in range(1, n + 1)],
            "industry": deals["industry"],
            "segment": deals["segment"],
            "region": deals["region"],
            "products": [";".join(p) for p in deals["products"]],
            "stage": stage,
            "amount": deals["amount"].astype(float),
            "created_at": _timestamps(deals["created"].to_numpy()),
            "reference_needed_by": [
                None if d < 0 else EPOCH + timedelta(days=int(d)) for d in needed
            ],
            "reference_type": rng.choice(types, size=n, p=type_p / type_p.sum()),
            "closed_at": _timestamps(deals["closed"].to_numpy()),
            "reference_contact_id": deals["reference_contact_id"],
        }
    )


def _timestamps(sec: np.ndarray) -> pd.Series:
    """Seconds since the epoch (negative = null) as naive UTC timestamps."""
    return pd.Series(pd.to_datetime(np.where(sec < 0, np.nan, sec), unit="s"))
