"""Accounts and contacts: their static attributes and the latent traits drawn once.

Contacts are stored grouped by account (account a owns rows first[a] : first[a] + size[a]),
so "a random contact of this account" is one vectorised index computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from advocacy.data_contracts.tables import PERSONAS, SEGMENTS
from advocacy.synthetic.config import WorldConfig
from advocacy.synthetic.pools import INDUSTRIES, INDUSTRY_WEIGHTS, REGION_TLDS
from advocacy.synthetic.timeline import NEVER, Timeline, first_anniversary_from

REGIONS_ORDER = ("na", "emea", "apac", "latam")
FIRST_CONTACT_MAX_DELAY_DAYS = 14  # the first contact arrives with the account


@dataclass
class Accounts:
    """Per-account arrays. `health`, `renewal_*` and `churn_day` change during the simulation."""

    segment: np.ndarray  # int8 index into SEGMENTS
    industry: np.ndarray  # int8 index into pools.INDUSTRIES
    region: np.ndarray  # int8 index into the config's region order
    employees: np.ndarray  # int64, -1 = unknown
    arr: np.ndarray
    arr_z: np.ndarray  # standardised log ARR (what the company's ask policy sees)
    created_day: np.ndarray
    size: np.ndarray  # contacts per account
    first: np.ndarray  # index of the account's first contact
    health: np.ndarray
    culture: np.ndarray  # shared advocacy culture: shifts every contact's acceptance
    renewal_years: np.ndarray
    renewal_day: np.ndarray  # next renewal the simulation will reach
    churn_day: np.ndarray  # NEVER = not churned
    renewal_missing: np.ndarray  # bool: CRM field left empty
    name_seed: np.ndarray  # uniform draws that pick name pieces (kind, stem, suffix, tld)

    @property
    def n(self) -> int:
        return len(self.segment)


@dataclass
class Contacts:
    """Per-contact static arrays (latent trait, creation, flags, name picks)."""

    account: np.ndarray  # int64 index into Accounts
    persona: np.ndarray  # int8 index into PERSONAS
    created_day: np.ndarray
    do_not_contact: np.ndarray
    trait: np.ndarray  # stable advocacy trait
    sat_level: np.ndarray  # the contact's own satisfaction level on top of account health
    usage_base: np.ndarray  # log of the contact's usage rate
    name_seed: np.ndarray  # uniform draws that pick name pieces (first, last, email, title)
    name_missing: np.ndarray
    title_missing: np.ndarray

    @property
    def n(self) -> int:
        return len(self.account)


def _p(mix: Mapping[str, float], keys: tuple[str, ...]) -> np.ndarray:
    """A mix as probabilities in `keys` order."""
    p = np.array([mix[k] for k in keys], dtype=float)
    return p / p.sum()


def _account_sizes(
    rng: np.random.Generator, cfg: WorldConfig, segment: np.ndarray, n: int
) -> np.ndarray:
    """Contacts per account: at least one each, the rest spread by a skewed size weight."""
    weight = _p(cfg.segment_size, SEGMENTS)[segment] * rng.lognormal(
        0.0, cfg.account_size_sigma, len(segment)
    )
    return 1 + rng.multinomial(n - len(segment), weight / weight.sum())


def _industries(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    industry = np.zeros(len(segment), dtype=np.int8)
    for s in range(len(SEGMENTS)):
        rows = np.flatnonzero(segment == s)
        p = INDUSTRY_WEIGHTS[s] / INDUSTRY_WEIGHTS[s].sum()
        industry[rows] = rng.choice(len(INDUSTRIES), size=len(rows), p=p)
    return industry


def make_accounts(
    rng: np.random.Generator, cfg: WorldConfig, n_contacts: int, tl: Timeline
) -> Accounts:
    """Accounts with correlated segment, size, employees and ARR, created before and during
    the history, with a latent health."""
    n = min(n_contacts, max(1, round(n_contacts / cfg.contacts_per_account)))
    segment = rng.choice(len(SEGMENTS), size=n, p=_p(cfg.segment_mix, SEGMENTS)).astype(np.int8)
    size = _account_sizes(rng, cfg, segment, n_contacts)
    emp_median = np.array([cfg.employees_median[s] for s in SEGMENTS])
    employees = np.maximum(
        np.rint(emp_median[segment] * rng.lognormal(0.0, cfg.employees_sigma, n)), 2 * size
    ).astype(np.int64)
    arr_median = np.array([cfg.arr_median[s] for s in SEGMENTS])
    arr = (
        arr_median[segment]
        * (employees / emp_median[segment]) ** cfg.arr_employee_elasticity
        * rng.lognormal(0.0, cfg.arr_sigma, n)
    )
    log_arr = np.log(arr)
    regions = region_keys(cfg)
    created = rng.integers(tl.start_day - round(cfg.years_before_history * 365), tl.end_day, n)
    renewal_years, renewal_day = first_anniversary_from(created, tl.start_day)
    employees[rng.random(n) < cfg.employees_missing_rate] = -1
    return Accounts(
        segment=segment,
        industry=_industries(rng, segment),
        region=rng.choice(len(regions), size=n, p=_p(cfg.region_mix, regions)).astype(np.int8),
        employees=employees,
        arr=np.round(arr, 2),
        arr_z=(log_arr - log_arr.mean()) / max(log_arr.std(), 1e-9),
        created_day=created,
        size=size,
        first=np.concatenate([[0], np.cumsum(size)[:-1]]),
        health=rng.normal(size=n) + cfg.health_enterprise_bonus * (segment == 2),
        culture=rng.normal(0.0, cfg.account_culture_sd, n),
        renewal_years=renewal_years,
        renewal_day=renewal_day,
        churn_day=np.full(n, NEVER, dtype=np.int64),
        renewal_missing=rng.random(n) < cfg.renewal_missing_rate,
        name_seed=rng.random((n, 4)),
    )


def _contact_created(
    rng: np.random.Generator, cfg: WorldConfig, acc: Accounts, tl: Timeline
) -> tuple[np.ndarray, np.ndarray]:
    """First contact arrives with the account; later ones trickle in after it."""
    account = np.repeat(np.arange(acc.n), acc.size)
    acc_created = acc.created_day[account]
    is_first = np.zeros(len(account), dtype=bool)
    is_first[acc.first] = True
    delay = np.where(
        is_first,
        rng.integers(0, FIRST_CONTACT_MAX_DELAY_DAYS, len(account)),
        np.rint(rng.exponential(cfg.contact_join_days, len(account))),
    ).astype(np.int64)
    created = acc_created + delay
    late = created >= tl.end_day
    span = tl.end_day - acc_created
    created = np.where(
        late, acc_created + (rng.random(len(account)) * span).astype(np.int64), created
    )
    return account, np.minimum(created, tl.end_day - 1)


def make_contacts(
    rng: np.random.Generator, cfg: WorldConfig, acc: Accounts, tl: Timeline
) -> Contacts:
    """Contacts with persona, creation date, flags and the latent traits that drive them."""
    account, created = _contact_created(rng, cfg, acc, tl)
    n = len(account)
    persona = rng.choice(len(PERSONAS), size=n, p=_p(cfg.persona_mix, PERSONAS)).astype(np.int8)
    trait = rng.normal(size=n)
    # Usage rates are lognormal across contacts; the offset keeps the mean at the configured rate.
    sigma = cfg.usage_rate_sigma
    persona_usage = np.array([cfg.persona_usage[p] for p in PERSONAS])
    usage_base = np.log(cfg.usage_events_per_week) - sigma**2 / 2 + sigma * rng.normal(size=n)
    usage_base += persona_usage[persona]
    dnc_p = cfg.do_not_contact_rate * 2 / (1 + np.exp(trait))  # low-trait people opt out of mail
    return Contacts(
        account=account,
        persona=persona,
        created_day=created,
        do_not_contact=rng.random(n) < dnc_p,
        trait=trait,
        sat_level=rng.normal(0.0, cfg.satisfaction_offset_sd, n),
        usage_base=usage_base,
        name_seed=rng.random((n, 5)),
        name_missing=rng.random(n) < cfg.name_missing_rate,
        title_missing=rng.random(n) < cfg.title_missing_rate,
    )


def region_keys(cfg: WorldConfig) -> tuple[str, ...]:
    """The region order used by `Accounts.region`."""
    return tuple(k for k in REGIONS_ORDER if k in cfg.region_mix)


def check_regions(cfg: WorldConfig) -> None:
    unknown = set(cfg.region_mix) - set(REGION_TLDS)
    if unknown:
        raise ValueError(f"no name pools for regions {sorted(unknown)}; known: {REGIONS_ORDER}")
