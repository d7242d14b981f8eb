"""The weekly simulation: latent states evolve, and each week emits usage, tickets, asks
and their outcomes, opt-outs, unprompted acts and NPS answers.

Everything is vectorised over contacts (or accounts); only weeks are looped. Within a week
the order matters for time consistency: renewals (churn) first, then asks (which only see
NPS answers from earlier weeks), then NPS, then opt-outs placed after the week's asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from advocacy.data_contracts.tables import ACTIVITY_STATUSES, ACTIVITY_TYPES, PERSONAS, SEGMENTS
from advocacy.synthetic.config import WorldConfig
from advocacy.synthetic.entities import Accounts, Contacts
from advocacy.synthetic.pools import COMMENT_KINDS, EVENT_BASE, EVENT_PERSONA_LIFT
from advocacy.synthetic.timeline import (
    DAY,
    HOUR,
    NEVER,
    Timeline,
    Week,
    add_years,
    day_seconds,
    event_times,
    week_order,
)

STATUS = {s: np.int8(i) for i, s in enumerate(ACTIVITY_STATUSES)}
NULL = -1  # missing int64 time / index in the collected rows
ASK_MARGIN_SEC = 2 * HOUR  # asks end early enough in a week for a later opt-out to fit
OPT_OUT_AFTER_ASK_SEC = HOUR
YEAR_DAYS = 365
WEEKS_PER_YEAR = 52

UsageSink = Callable[[np.ndarray, np.ndarray, np.ndarray], None]
Rows = dict[str, np.ndarray]  # one output table's new rows, column by column


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class ContactState:
    """The latent, time-varying state of every contact."""

    satisfaction: np.ndarray
    satisfaction_slow: np.ndarray
    engagement: np.ndarray
    engagement_slow: np.ndarray
    slope: np.ndarray  # current engagement trend regime (log-rate change per week)
    fatigue: np.ndarray
    opt_out_sec: np.ndarray  # NEVER = not opted out
    ever_asked: np.ndarray
    first_completed_sec: np.ndarray  # NEVER = nothing completed yet
    last_ask_sec: np.ndarray
    last_nps: np.ndarray  # NaN = never answered
    last_nps_sec: np.ndarray
    nps_phase: np.ndarray

    @property
    def trend(self) -> np.ndarray:
        return self.engagement - self.engagement_slow

    @property
    def satisfaction_trend(self) -> np.ndarray:
        return self.satisfaction - self.satisfaction_slow


@dataclass
class Collector:
    """Rows of one output table, gathered week by week as column arrays."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **cols: np.ndarray) -> None:
        for name, values in cols.items():
            self.parts.setdefault(name, []).append(values)

    def columns(self) -> dict[str, np.ndarray]:
        return {name: np.concatenate(values) for name, values in self.parts.items()}


@dataclass
class World:
    """Everything a weekly step reads or updates."""

    rng: np.random.Generator
    cfg: WorldConfig
    tl: Timeline
    acc: Accounts
    con: Contacts
    st: ContactState


@dataclass
class Simulated:
    state: ContactState
    nps: dict[str, np.ndarray]
    tickets: dict[str, np.ndarray]
    activities: dict[str, np.ndarray]


def init_state(
    rng: np.random.Generator, cfg: WorldConfig, acc: Accounts, con: Contacts
) -> ContactState:
    """Start every contact in its stationary state, with no asks behind it."""
    n = con.n
    level = cfg.satisfaction_health_pull * acc.health[con.account] + con.sat_level
    stationary_sd = cfg.satisfaction_noise / np.sqrt(2 * cfg.satisfaction_reversion)
    eng_sd = cfg.engagement_noise / np.sqrt(2 * cfg.engagement_reversion)
    engagement = rng.normal(0.0, eng_sd, n)
    satisfaction = level + rng.normal(0.0, stationary_sd, n)
    return ContactState(
        satisfaction=satisfaction,
        satisfaction_slow=satisfaction.copy(),
        engagement=engagement,
        engagement_slow=engagement.copy(),
        slope=rng.normal(0.0, cfg.engagement_trend_sd, n),
        fatigue=np.zeros(n),
        opt_out_sec=np.full(n, NEVER, dtype=np.int64),
        ever_asked=np.zeros(n, dtype=bool),
        first_completed_sec=np.full(n, NEVER, dtype=np.int64),
        last_ask_sec=np.zeros(n, dtype=np.int64),
        last_nps=np.full(n, np.nan),
        last_nps_sec=np.zeros(n, dtype=np.int64),
        nps_phase=rng.integers(0, cfg.nps_interval_weeks, n),
    )


def simulate(
    rng: np.random.Generator,
    cfg: WorldConfig,
    tl: Timeline,
    acc: Accounts,
    con: Contacts,
    usage_sink: UsageSink,
) -> Simulated:
    """Run every week of the timeline; usage goes to `usage_sink`, other rows are returned."""
    w = World(rng, cfg, tl, acc, con, init_state(rng, cfg, acc, con))
    nps, tickets, acts = Collector(), Collector(), Collector()
    event_p = _event_probabilities()
    for index in range(tl.n_weeks):
        wk = tl.week(index)
        _renewals(w, wk)
        active = (con.created_day < wk.start_day) & (acc.churn_day[con.account] >= wk.end_day)
        _evolve(w, wk)
        usage_sink(*_usage(w, active, wk, event_p))
        tickets.add(**_tickets(w, active, wk))
        acts.add(**_asks(w, active, wk))
        acts.add(**_unprompted(w, active, wk))
        nps.add(**_nps(w, active, wk))
        _opt_outs(w, active, wk)
    activities = _settle_activities(w, acts.columns())
    return Simulated(w.st, nps.columns(), tickets.columns(), activities)


def _renewals(w: World, wk: Week) -> None:
    """Accounts renewing this week churn with a probability driven by health and mood."""
    rng, cfg, acc, con, st = w.rng, w.cfg, w.acc, w.con, w.st
    due = (acc.renewal_day < wk.end_day) & (acc.churn_day == NEVER)
    if not due.any():
        return
    mean_sat = np.bincount(con.account, weights=st.satisfaction, minlength=acc.n) / acc.size
    logit = cfg.churn_intercept - cfg.churn_health * acc.health - cfg.churn_satisfaction * mean_sat
    churn = due & (rng.random(acc.n) < sigmoid(logit))
    acc.churn_day = np.where(churn, acc.renewal_day, acc.churn_day)
    renew = due & ~churn
    acc.renewal_years = np.where(renew, acc.renewal_years + 1, acc.renewal_years)
    acc.renewal_day = np.where(
        renew, add_years(acc.created_day, acc.renewal_years), acc.renewal_day
    )


def _evolve(w: World, wk: Week) -> None:
    """One week of drift: account health (AR(1)), satisfaction (mean-reverting random walk
    pulled by health, eroded by fatigue), engagement (trend regimes + noise), fatigue decay."""
    rng, cfg, acc, con, st = w.rng, w.cfg, w.acc, w.con, w.st
    rho = cfg.health_persistence
    acc.health = rho * acc.health + np.sqrt(1 - rho**2) * rng.normal(size=acc.n)
    n = con.n
    level = cfg.satisfaction_health_pull * acc.health[con.account] + con.sat_level
    burn = cfg.fatigue_satisfaction_hit * np.maximum(0.0, st.fatigue - cfg.fatigue_threshold)
    st.satisfaction += (
        cfg.satisfaction_reversion * (level - st.satisfaction)
        + cfg.satisfaction_noise * rng.normal(size=n)
        - burn
    )
    switch = rng.random(n) < 1.0 / cfg.engagement_trend_weeks
    st.slope = np.where(switch, rng.normal(0.0, cfg.engagement_trend_sd, n), st.slope)
    st.engagement += (
        st.slope
        - cfg.engagement_reversion * st.engagement
        + cfg.engagement_noise * rng.normal(size=n)
    )
    st.engagement_slow += (st.engagement - st.engagement_slow) / cfg.engagement_slow_weeks
    st.satisfaction_slow += (st.satisfaction - st.satisfaction_slow) / cfg.satisfaction_slow_weeks
    st.fatigue *= 0.5 ** (wk.fraction / cfg.fatigue_half_life_weeks)


def _event_probabilities() -> np.ndarray:
    """(persona, event) matrix of event shares."""
    base = np.array(list(EVENT_BASE.values()))
    rows = []
    for persona in PERSONAS:
        lift = EVENT_PERSONA_LIFT.get(persona, {})
        p = base * np.array([lift.get(e, 1.0) for e in EVENT_BASE])
        rows.append(p / p.sum())
    return np.array(rows)


def _usage(
    w: World, active: np.ndarray, wk: Week, event_p: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Poisson event counts per contact (rate follows engagement and satisfaction), expanded
    to (contact, time, event code) rows sorted by time."""
    rng, cfg, con, st = w.rng, w.cfg, w.con, w.st
    log_rate = con.usage_base + st.engagement + cfg.usage_satisfaction * st.satisfaction
    lam = np.where(active, np.exp(log_rate) * wk.fraction, 0.0)
    counts = rng.poisson(lam)
    who = np.flatnonzero(counts)
    contact = np.repeat(who, counts[who])
    sec = event_times(rng, wk, len(contact), cfg.business_hours_share)
    code = np.zeros(len(contact), dtype=np.int8)
    persona = con.persona[contact]
    for p in range(len(PERSONAS)):
        rows = np.flatnonzero(persona == p)
        code[rows] = rng.choice(event_p.shape[1], size=len(rows), p=event_p[p])
    order = week_order(sec, wk)
    return contact[order], sec[order], code[order]


def _tickets(w: World, active: np.ndarray, wk: Week) -> Rows:
    """Tickets per account: rate, priority, resolution time and CSAT all follow health."""
    rng, cfg, acc, con = w.rng, w.cfg, w.acc, w.con
    n_active = np.bincount(con.account[active], minlength=acc.n)
    lam = (
        cfg.tickets_per_contact_year / WEEKS_PER_YEAR * wk.fraction * n_active
        * np.exp(-cfg.ticket_health * acc.health)
    )  # fmt: skip
    counts = rng.poisson(lam)
    account = np.repeat(np.arange(acc.n), counts)
    k, health = len(account), acc.health[account]
    opened = event_times(rng, wk, k, cfg.business_hours_share)
    pick = acc.first[account] + (rng.random(k) * acc.size[account]).astype(np.int64)
    assigned = active[pick] & (rng.random(k) >= cfg.ticket_unassigned_rate)
    contact = np.where(assigned, pick, NULL)
    z = -cfg.ticket_priority_health * health + rng.logistic(size=k)
    priority = np.searchsorted(np.array(cfg.ticket_priority_cuts), z).astype(np.int8)
    log_hours = (
        np.log(np.array(cfg.ticket_median_hours))[priority]
        - cfg.ticket_resolution_health * health
        + cfg.ticket_resolution_sigma * rng.normal(size=k)
    )
    hours = np.exp(log_hours)
    closed = opened + (hours * HOUR).astype(np.int64)
    open_now = (closed >= w.tl.end_sec) | (rng.random(k) < cfg.ticket_never_closed_rate)
    closed = np.where(open_now, NULL, closed)
    csat = _csat(rng, cfg, health, hours, priority, answered=~open_now)
    _ticket_feelings(cfg, w.st, contact, csat, priority)
    return {"account": account, "contact": contact, "opened": opened, "closed": closed,
            "priority": priority, "csat": csat}  # fmt: skip


def _csat(
    rng: np.random.Generator,
    cfg: WorldConfig,
    health: np.ndarray,
    hours: np.ndarray,
    priority: np.ndarray,
    answered: np.ndarray,
) -> np.ndarray:
    """CSAT 1..5 for the closed tickets that got an answer (0 = none)."""
    k = len(health)
    z = (
        cfg.csat_mean
        + cfg.csat_health * health
        + cfg.csat_per_log_day * np.log(hours * HOUR / DAY)
        + cfg.csat_high_priority * (priority >= 2)
        + cfg.csat_noise * rng.normal(size=k)
    )
    has = answered & (rng.random(k) < cfg.ticket_csat_rate)
    return np.where(has, np.clip(np.rint(z), 1, 5), 0).astype(np.int8)


def _ticket_feelings(
    cfg: WorldConfig, st: ContactState, contact: np.ndarray, csat: np.ndarray, priority: np.ndarray
) -> None:
    """Bad support experiences sour the requester; great ones help a little."""
    known = contact >= 0
    delta = np.zeros(len(contact))
    delta -= cfg.ticket_bad_csat_hit * ((csat >= 1) & (csat <= 2))
    delta -= cfg.ticket_urgent_hit * (priority == 3)
    delta += cfg.ticket_good_csat_lift * (csat == 5)
    np.add.at(st.satisfaction, contact[known], delta[known])


def _ask_weights(w: World, ix: np.ndarray, wk: Week) -> np.ndarray:
    """What the company looks at when it picks whom to ask: recent NPS, ARR, persona and
    whether the person delivered before. It never sees the latent state."""
    cfg, acc, con, st = w.cfg, w.acc, w.con, w.st
    recent = st.last_nps_sec[ix] >= wk.start_sec - YEAR_DAYS * DAY
    nps = st.last_nps[ix]
    persona_bias = np.array([cfg.ask_bias_persona[p] for p in PERSONAS])
    score = (
        cfg.ask_bias_promoter * (recent & (nps >= 9))
        + cfg.ask_bias_detractor * (recent & (nps <= 6))
        + cfg.ask_bias_arr * acc.arr_z[con.account[ix]]
        + persona_bias[con.persona[ix]]
        + cfg.ask_bias_past_completion * (st.first_completed_sec[ix] < wk.start_sec)
    )
    return np.exp(score)


def _activity_types(rng: np.random.Generator, cfg: WorldConfig, persona: np.ndarray) -> np.ndarray:
    """The kind of ask, drawn from the persona's usual mix."""
    kind = np.zeros(len(persona), dtype=np.int8)
    for p, name in enumerate(PERSONAS):
        rows = np.flatnonzero(persona == p)
        mix = cfg.activity_mix[name]
        probs = np.array([mix.get(t, 0.0) for t in ACTIVITY_TYPES])
        kind[rows] = rng.choice(len(ACTIVITY_TYPES), size=len(rows), p=probs / probs.sum())
    return kind


def accept_probability(w: World, who: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """The true chance that `who` says yes to an ask of type `kind` right now.

    Besides the additive terms it holds what real programs show and a linear model misses:
    the kind of ask and the account's segment suit some personas and not others, fatigue
    has a cliff, a rising satisfaction matters only for people who use the product, and
    accounts share a culture.
    """
    cfg, con, st = w.cfg, w.con, w.st
    persona_eff = np.array([cfg.persona_advocacy[p] for p in PERSONAS])
    type_eff = np.array([cfg.activity_effect[t] for t in ACTIVITY_TYPES])
    pair = cfg.accept_persona_activity
    pair_eff = np.array([[pair[p].get(t, 0.0) for t in ACTIVITY_TYPES] for p in PERSONAS])
    seg = cfg.accept_persona_segment
    seg_eff = np.array([[seg[p].get(g, 0.0) for g in SEGMENTS] for p in PERSONAS])
    persona, fatigue = con.persona[who], st.fatigue[who]
    engaged = st.engagement[who] > 0
    logit = (
        cfg.accept_intercept
        + cfg.accept_satisfaction * st.satisfaction[who]
        + cfg.accept_trend * st.trend[who]
        + cfg.accept_trait * con.trait[who]
        + persona_eff[persona]
        + type_eff[kind]
        + pair_eff[persona, kind]
        + seg_eff[persona, w.acc.segment[con.account[who]]]
        - cfg.accept_fatigue * fatigue
        - cfg.accept_fatigue_cliff * (fatigue > cfg.accept_fatigue_cliff_at)
        + cfg.accept_sat_trend_engaged * st.satisfaction_trend[who] * engaged
        + w.acc.culture[con.account[who]]
    )
    return sigmoid(logit)


def _asks(w: World, active: np.ndarray, wk: Week) -> Rows:
    """The company's weekly asks (biased selection) and each ask's eventual outcome."""
    rng, cfg, con, st = w.rng, w.cfg, w.con, w.st
    ix = np.flatnonzero(active & ~con.do_not_contact & (st.opt_out_sec == NEVER))
    weight = _ask_weights(w, ix, wk)
    expected = cfg.ask_rate_per_week * len(ix) * wk.fraction
    p = np.minimum(cfg.ask_cap_per_week, expected * weight / max(weight.sum(), 1e-12))
    who = ix[rng.random(len(ix)) < p]
    kind = _activity_types(rng, cfg, con.persona[who])
    requested = event_times(rng, wk, len(who), cfg.business_hours_share, ASK_MARGIN_SEC)
    accepted = rng.random(len(who)) < accept_probability(w, who, kind)
    status, completed = _outcomes(rng, cfg, w.tl, kind, requested, accepted)
    st.fatigue[who] += cfg.fatigue_per_ask + cfg.fatigue_per_completion * accepted
    st.ever_asked[who] = True
    st.last_ask_sec[who] = requested
    done = completed != NULL
    st.first_completed_sec[who[done]] = np.minimum(
        st.first_completed_sec[who[done]], completed[done]
    )
    return {"contact": who, "kind": kind, "requested": requested, "status": status,
            "completed": completed}  # fmt: skip


def _outcomes(
    rng: np.random.Generator,
    cfg: WorldConfig,
    tl: Timeline,
    kind: np.ndarray,
    requested: np.ndarray,
    accepted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Status and completion time as seen at the end of the timeline (pending if the
    answer has not come yet)."""
    k = len(kind)
    median = np.array([cfg.completion_median_days[t] for t in ACTIVITY_TYPES])[kind]
    done_at = requested + (median * rng.lognormal(0.0, cfg.completion_sigma, k) * DAY).astype(
        np.int64
    )
    cancel = rng.random(k) < cfg.cancel_rate
    cancel_at = requested + rng.integers(1, cfg.cancel_max_days + 1, k) * DAY
    declines = rng.random(k) < cfg.decline_share
    decline_at = requested + (rng.exponential(cfg.decline_mean_days, k) * DAY).astype(np.int64)
    silent_until = requested + cfg.no_response_after_days * DAY
    status = np.select(
        [cancel, accepted, declines],
        [
            np.where(cancel_at < tl.end_sec, STATUS["cancelled"], STATUS["pending"]),
            np.where(done_at < tl.end_sec, STATUS["completed"], STATUS["pending"]),
            np.where(decline_at < tl.end_sec, STATUS["declined"], STATUS["pending"]),
        ],
        np.where(silent_until < tl.end_sec, STATUS["no_response"], STATUS["pending"]),
    ).astype(np.int8)
    completed = np.where(status == STATUS["completed"], done_at, NULL)
    return status, completed


def _unprompted(w: World, active: np.ndarray, wk: Week) -> Rows:
    """Reviews, referrals and posts that high-trait, happy users make on their own."""
    rng, cfg, con, st = w.rng, w.cfg, w.con, w.st
    persona_eff = np.array([cfg.persona_advocacy[p] for p in PERSONAS])
    logit = (
        cfg.unprompted_intercept
        + cfg.unprompted_trait * (con.trait + persona_eff[con.persona] + w.acc.culture[con.account])
        + cfg.unprompted_satisfaction * st.satisfaction
        + cfg.unprompted_engagement * st.engagement
    )
    hit = active & (st.opt_out_sec == NEVER) & (rng.random(con.n) < sigmoid(logit) * wk.fraction)
    who = np.flatnonzero(hit)
    names = list(cfg.unprompted_mix)
    probs = np.array([cfg.unprompted_mix[t] for t in names])
    codes = np.array([ACTIVITY_TYPES.index(t) for t in names], dtype=np.int8)
    kind = codes[rng.choice(len(names), size=len(who), p=probs / probs.sum())]
    at = event_times(rng, wk, len(who), cfg.business_hours_share)
    st.first_completed_sec[who] = np.minimum(st.first_completed_sec[who], at)
    status = np.full(len(who), STATUS["completed"], dtype=np.int8)
    return {"contact": who, "kind": kind, "requested": np.full(len(who), NULL), "status": status,
            "completed": at}  # fmt: skip


def _nps(w: World, active: np.ndarray, wk: Week) -> Rows:
    """Quarterly survey waves: some answer, the score follows satisfaction and ask fatigue."""
    rng, cfg, con, st = w.rng, w.cfg, w.con, w.st
    surveyed = active & ((wk.index + st.nps_phase) % cfg.nps_interval_weeks == 0)
    who = np.flatnonzero(surveyed & (rng.random(con.n) < cfg.nps_response_rate))
    k = len(who)
    z = (
        cfg.nps_mean
        + cfg.nps_satisfaction * st.satisfaction[who]
        - cfg.nps_fatigue * st.fatigue[who]
        + cfg.nps_noise * rng.normal(size=k)
    )
    score = np.clip(np.rint(z), 0, 10).astype(np.int8)
    at = event_times(rng, wk, k, cfg.business_hours_share)
    st.last_nps[who] = score
    st.last_nps_sec[who] = at
    return {"contact": who, "responded": at, "score": score,
            "comment_kind": _comment_kinds(rng, cfg, score, st.fatigue[who]),
            "comment_u": rng.random(k)}  # fmt: skip


def _comment_kinds(
    rng: np.random.Generator, cfg: WorldConfig, score: np.ndarray, fatigue: np.ndarray
) -> np.ndarray:
    """Index into pools.COMMENT_KINDS (or NULL: no comment), matching the score's sentiment;
    tired, unhappy respondents complain about the asks."""
    k = len(score)
    sentiment = np.select([score >= 9, score >= 7], [2, 1], 0)  # 0 detractor, 1 passive, 2 promoter
    rate = np.array([cfg.nps_comment_rate[s] for s in ("detractor", "passive", "promoter")])
    kind = np.array([COMMENT_KINDS.index(s) for s in ("detractor", "passive", "promoter")])
    out = kind[sentiment]
    tired = (
        (fatigue > cfg.nps_fatigue_comment_min)
        & (sentiment < 2)
        & (rng.random(k) < cfg.nps_fatigue_comment_share)
    )
    out = np.where(tired, COMMENT_KINDS.index("fatigued"), out)
    return np.where(rng.random(k) < rate[sentiment], out, NULL)


def _opt_outs(w: World, active: np.ndarray, wk: Week) -> None:
    """Asked contacts opt out of advocacy when tired, unhappy or drifting away; the
    opt-out falls after any ask of the same week."""
    rng, cfg, st = w.rng, w.cfg, w.st
    candidates = active & st.ever_asked & (st.opt_out_sec == NEVER)
    logit = (
        cfg.optout_intercept
        + cfg.optout_fatigue * st.fatigue
        - cfg.optout_satisfaction * st.satisfaction
        - cfg.optout_trend * st.trend
    )
    who = np.flatnonzero(candidates & (rng.random(len(logit)) < sigmoid(logit) * wk.fraction))
    lo = np.maximum(wk.start_sec, st.last_ask_sec[who] + OPT_OUT_AFTER_ASK_SEC)
    st.opt_out_sec[who] = lo + (rng.random(len(who)) * (wk.end_sec - lo)).astype(np.int64)


def _settle_activities(w: World, acts: Rows) -> Rows:
    """Consistency after the fact: an ask not finished before the contact opted out was
    declined; one not finished before the account churned was cancelled."""
    acc, con, st, tl = w.acc, w.con, w.st, w.tl
    opt_out = st.opt_out_sec[acts["contact"]]
    churn_day = acc.churn_day[con.account[acts["contact"]]]
    churn = day_seconds(churn_day)
    is_ask = acts["requested"] != NULL
    completed, status = acts["completed"], acts["status"]
    open_end = np.where(status == STATUS["completed"], completed, tl.end_sec)
    live = is_ask & np.isin(status, [STATUS["completed"], STATUS["pending"]])
    churned = live & (open_end >= churn)
    quit_ = live & ~churned & (open_end >= opt_out)
    status = np.where(churned, STATUS["cancelled"], np.where(quit_, STATUS["declined"], status))
    acts["status"] = status.astype(np.int8)
    acts["completed"] = np.where(status == STATUS["completed"], completed, NULL)
    return acts
