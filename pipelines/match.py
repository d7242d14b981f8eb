"""`advocacy match` and the API's answers: a published run's advocates + the data folder's deals.

Reads only `<run>/advocates.parquet` (what the weekly job published: eligible advocates, their
scores and facts at T) and the `opportunities` table; no retraining, no feature rebuild. The
score and its words are `policy/matching.py`; the assignment is `policy/solver.py`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from advocacy.data_contracts.load import (
    DataFolderError,
    find_table_file,
    new_connection,
    source_sql,
    typed_select,
)
from advocacy.data_contracts.tables import OPPORTUNITIES
from advocacy.policy.matching import (
    ADVOCATE_COLUMNS,
    MATCH_COLUMNS,
    SCORING_DICTIONARY,
    SCORING_NUMBERS,
    Ranked,
    ScoringIndex,
    match_rows,
    rank,
)
from advocacy.settings import MatchingSettings, Settings

log = logging.getLogger(__name__)

ADVOCATES_FILE = "advocates.parquet"
MATCHES_FILE = "matches.csv"


class MatchInputError(Exception):
    """The run folder or the opportunity cannot be used (one clear line; the CLI exits 2)."""


_TEXT = ("contact_id", "account_id", "account_name", "industry", "segment", "region")
_COUNTS = ("employees", "days_active_30d")


def _arrow_type(column: str) -> pa.DataType:
    if column in _TEXT:
        return pa.string()
    if column == "features_used":
        return pa.list_(pa.string())
    if column in _COUNTS:
        return pa.int64()
    return pa.timestamp("us") if column == "as_of" else pa.float64()


# advocates.parquet's types (so an empty file still has them).
ADVOCATE_SCHEMA = pa.schema([(c, _arrow_type(c)) for c in ADVOCATE_COLUMNS])
ROW_GROUP_ROWS = 16_384  # advocates.parquet row groups: an answer reads only its rows' groups


@dataclass(frozen=True)
class PublishedAdvocates:
    """One run's advocates: the columns scoring reads in memory, the rest read on demand.

    `rows(index)` reads only the row groups that hold those rows, so an answer at 1M
    advocates reads a few thousand rows of names and facts, not all of them.
    """

    run_dir: Path
    path: Path
    scoring: ScoringIndex
    as_of: date | None
    group_starts: np.ndarray  # first row of each row group, then the row count

    @property
    def num_rows(self) -> int:
        return self.scoring.num_rows

    def rows(self, index: np.ndarray) -> pd.DataFrame:
        """The advocate rows at `index` (in that order), all published columns."""
        index = np.asarray(index, dtype=np.int64)
        if len(index) == 0:
            return pq.read_schema(self.path).empty_table().to_pandas()
        groups = np.unique(np.searchsorted(self.group_starts, index, side="right") - 1)
        part = pq.ParquetFile(self.path).read_row_groups(groups.tolist())
        starts = self.group_starts[groups]
        sizes = self.group_starts[groups + 1] - starts
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        local = index - starts[np.searchsorted(starts, index, side="right") - 1]
        at = offsets[np.searchsorted(starts, index, side="right") - 1] + local
        return part.take(pa.array(at)).to_pandas()


def run_folder(settings: Settings, run: Path | str | None = None) -> Path:
    """The run folder to answer from: `run`, else `<output_root>/latest`."""
    return Path(run) if run is not None else Path(settings.output_root) / "latest"


def write_advocates_parquet(frame: pd.DataFrame, path: Path) -> Path:
    """advocates.parquet as matching reads it fastest: rows in contact_id order (ties), small
    row groups (answers read only theirs)."""
    frame = frame.sort_values("contact_id")[list(ADVOCATE_COLUMNS)]
    table = pa.Table.from_pandas(frame, schema=ADVOCATE_SCHEMA, preserve_index=False)
    # The published types are ADVOCATE_SCHEMA's alone: no pandas dtype names (an Arrow list
    # column's would not read back in every pandas) in the file's metadata.
    pq.write_table(table.replace_schema_metadata(None), path, row_group_size=ROW_GROUP_ROWS)
    return path


def load_advocates(run_dir: Path | str) -> PublishedAdvocates:
    """The scoring columns of `<run>/advocates.parquet` (dictionary-encoded text)."""
    path = Path(run_dir) / ADVOCATES_FILE
    if not path.is_file():
        raise MatchInputError(f"no {ADVOCATES_FILE} in run folder {run_dir} (run the weekly job)")
    file = pq.ParquetFile(path)
    names = set(file.schema_arrow.names)
    columns = [c for c in (*SCORING_DICTIONARY, *SCORING_NUMBERS) if c in names]
    # A list's values are dictionary-encoded through the path of its element.
    dictionary = [
        f"{c}.list.element" if c == "features_used" else c for c in SCORING_DICTIONARY if c in names
    ]
    table = pq.read_table(path, columns=columns, read_dictionary=dictionary, memory_map=True)
    scoring = ScoringIndex.from_table(table)
    sizes = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
    as_of = None
    if table.num_rows and "as_of" in names:
        first = file.read_row_group(0, columns=["as_of"]).column(0)[0].as_py()
        as_of = pd.Timestamp(first).date()
    log.info("loaded %d advocates from %s", table.num_rows, path)
    starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    return PublishedAdvocates(Path(run_dir).resolve(), path, scoring, as_of, starts)


def _opportunities_sql(data_dir: Path | str, where: str) -> str:
    try:
        path = find_table_file(data_dir, OPPORTUNITIES.name)
    except DataFolderError as exc:  # missing or empty file
        raise MatchInputError(f"no opportunities table in {data_dir}: {exc}") from None
    select = typed_select(OPPORTUNITIES, source_sql(path), text=path.suffix != ".parquet")
    return f"SELECT * FROM ({select}) WHERE {where}"


def read_opportunity(data_dir: Path | str, opportunity_id: str) -> dict[str, Any] | None:
    """The one opportunity row (None when the id is unknown)."""
    con = new_connection(threads=1)
    try:
        sql = _opportunities_sql(data_dir, "opportunity_id = $id")
        rows = con.execute(sql, {"id": opportunity_id}).df()
    finally:
        con.close()
    return None if rows.empty else _row(rows.iloc[0])


def open_opportunities(data_dir: Path | str, as_of: date) -> pd.DataFrame:
    """Deals open at T: created before T, not closed before T (a later close is unseen at T)."""
    t = datetime.combine(as_of, datetime.min.time())
    where = "created_at < $t AND (closed_at IS NULL OR closed_at >= $t) ORDER BY opportunity_id"
    con = new_connection(threads=1)
    try:
        return con.execute(_opportunities_sql(data_dir, where), {"t": t}).df()
    finally:
        con.close()


def _row(series: pd.Series) -> dict[str, Any]:
    return {k: (None if pd.isna(v) else v) for k, v in series.items()}


def answer(
    advocates: PublishedAdvocates, opportunity: dict[str, Any], settings: MatchingSettings, top: int
) -> pd.DataFrame:
    """The best `top` advocates for one opportunity (MATCH_COLUMNS)."""
    ranked = rank(advocates.scoring, opportunity, settings, top)
    return match_rows(advocates.rows(ranked.index), ranked, opportunity)


MAX_CANDIDATES = 500  # edges per opportunity at most (see assign_open)
FIRST_CANDIDATES = 10  # edges per opportunity in the first round of assign_open


def candidates_per_opportunity(opportunities: int, settings: MatchingSettings) -> int:
    """How many of each deal's best advocates can matter, at most.

    Exact: an optimum using a candidate below a deal's top `refs + ceil(refs x deals /
    per_advocate_cap)` can swap it for a better one that is neither chosen for that deal nor
    held by a full advocate (there are fewer of those), so the top ones hold an optimum.
    Capped at MAX_CANDIDATES (`assign_open` proves the answer optimal either way, or warns).
    """
    refs = settings.references_per_opportunity
    needed = refs + math.ceil(refs * opportunities / settings.per_advocate_cap)
    return min(needed, MAX_CANDIDATES)


def assign_open(
    advocates: PublishedAdvocates, opportunities: pd.DataFrame, settings: MatchingSettings
) -> pd.DataFrame:
    """Advocates for every open opportunity at once: the exact solver (policy/solver.py),
    `references_per_opportunity` per deal, `per_advocate_cap` deals per advocate.

    Each deal is ranked once; the solver first gets each deal's best FIRST_CANDIDATES, and
    a deal whose next candidate is worth more than its cap's LP price (`solver.slot_prices`)
    gets 4x as many, until none is: then no left-out candidate can improve the answer, so it
    is the optimum over every advocate (a few thousand edges instead of deals x 500)."""
    from advocacy.policy import solver  # scipy: only the assignment needs it

    opps = [_row(r) for _, r in opportunities.iterrows()]
    most = candidates_per_opportunity(len(opps), settings)
    ranked = {
        str(o["opportunity_id"]): rank(advocates.scoring, o, settings, most + 1) for o in opps
    }
    caps = {oid: settings.references_per_opportunity for oid in ranked}
    keep = {oid: min(FIRST_CANDIDATES, most) for oid in ranked}
    while True:
        edges = _edges(ranked, keep)
        if edges.empty:
            return _empty_matches()
        prices = solver.slot_prices(edges, slot_caps=caps, person_cap=settings.per_advocate_cap)
        short = [
            oid for oid, r in ranked.items()
            if len(r.score) > keep[oid] and r.score[keep[oid]] > prices.get(oid, 0.0) + 1e-9
        ]  # fmt: skip
        grow = [oid for oid in short if keep[oid] < most]
        if not grow:
            break
        keep |= {oid: min(4 * keep[oid], most) for oid in grow}
    if short:
        log.warning("matching: %d deals may miss a better advocate beyond %d", len(short), most)
    chosen = solver.assign(edges, slot_caps=caps, person_cap=settings.per_advocate_cap)
    return _matches(advocates, opps, ranked, chosen)


def _edges(ranked: dict[str, Ranked], keep: dict[str, int]) -> pd.DataFrame:
    """The solver's edges: each deal's best `keep[deal]` advocates (person = row number)."""
    parts = [(oid, r.index[: keep[oid]], r.score[: keep[oid]]) for oid, r in ranked.items()]
    person = np.concatenate([p for _, p, _ in parts]).astype(np.int64)
    return pd.DataFrame(
        {
            "slot": np.repeat([oid for oid, _, _ in parts], [len(p) for _, p, _ in parts]),
            "person": person, "group": person,  # no group caps here
            "value": np.concatenate([v for _, _, v in parts]).astype(float),
        }
    )  # fmt: skip


def _matches(
    advocates: PublishedAdvocates,
    opps: list[dict[str, Any]],
    ranked: dict[str, Ranked],
    chosen: pd.DataFrame,
) -> pd.DataFrame:
    """MATCH_COLUMNS for the chosen (deal, advocate) pairs, deals in input order."""
    picks = [
        _chosen(ranked[str(o["opportunity_id"])], chosen, str(o["opportunity_id"])) for o in opps
    ]
    deals = [o for o, k in zip(opps, picks, strict=True) for _ in range(int(k.sum()))]
    if not deals:
        return _empty_matches()
    both = Ranked(
        *(np.concatenate([getattr(r, f)[k] for r, k in zip(ranked.values(), picks, strict=True)])
          for f in ("index", "score", "fit", "p_yes", "p_burnout")),
        {p: np.concatenate([r.parts[p][k] for r, k in zip(ranked.values(), picks, strict=True)])
         for p in next(iter(ranked.values())).parts},
    )  # fmt: skip
    return match_rows(advocates.rows(both.index), both, deals)


def _chosen(ranked: Ranked, chosen: pd.DataFrame, opportunity_id: str) -> np.ndarray:
    """Which of the deal's ranked rows the solver gave it (a mask, rank order kept)."""
    rows = chosen.loc[chosen["slot"] == opportunity_id, "person"].to_numpy()
    return np.isin(ranked.index, rows)


def _empty_matches() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in MATCH_COLUMNS})


def write_matches_csv(matches: pd.DataFrame, path: Path, *, encoding: str = "utf-8-sig") -> Path:
    """matches.csv for spreadsheets: formula cells neutralised, BOM by default, CRLF rows."""
    from advocacy.pipelines.outputs import spreadsheet_safe  # imports the models (slow)

    path.parent.mkdir(parents=True, exist_ok=True)
    spreadsheet_safe(matches).to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path


# ---------------------------------------------------------------- for the weekly job
@dataclass(frozen=True)
class MatchInputs:
    """What a run publishes for matching: the eligible advocates, and the deals open at T
    (None when the data folder has no opportunities table)."""

    advocates: pd.DataFrame
    open_opportunities: pd.DataFrame | None


def match_inputs(
    data: Path,
    as_of: date,
    ranked: pd.DataFrame,
    settings: Settings,
    facts: pd.DataFrame | None = None,
) -> MatchInputs:
    """The job's step: advocates for the eligible of `ranked` (contact_id, eligible,
    p_advocate, p_burnout[, p_reference_call]) and the open deals.

    `facts` are `advocate_facts` computed on the feature step's connection (the weekly job:
    usage is rolled up once); None: computed here on a fresh connection.
    """
    from advocacy.data_contracts.load import connect, has_table_file
    from advocacy.policy.matching import advocate_facts, with_scores

    eligible = ranked.loc[ranked["eligible"].astype(bool), "contact_id"]
    if facts is None:
        con = connect(data, engine=settings.engine)
        try:
            facts = advocate_facts(con, as_of, eligible)
        finally:
            con.close()
    advocates = with_scores(facts[facts["contact_id"].isin(eligible)], ranked)
    has_deals = has_table_file(data, OPPORTUNITIES.name)
    return MatchInputs(advocates, open_opportunities(data, as_of) if has_deals else None)


def most_urgent(deals: pd.DataFrame, limit: int) -> pd.DataFrame:
    """The `limit` deals needing a reference soonest (`reference_needed_by`, none last), then
    the largest (`amount`), then by id: the weekly matches.csv's share of the open deals."""
    if len(deals) <= limit:
        return deals
    order = deals.assign(
        _by=pd.to_datetime(deals["reference_needed_by"]), _amount=deals["amount"].fillna(0)
    ).sort_values(
        ["_by", "_amount", "opportunity_id"], ascending=[True, False, True], na_position="last"
    )
    log.info("matching: the weekly matches cover %d of %d open deals", limit, len(deals))
    return order.head(limit).drop(columns=["_by", "_amount"])


def write_match_files(folder: Path, inputs: MatchInputs | None, settings: Settings) -> pd.DataFrame:
    """advocates.parquet and matches.csv (header only when the data folder has no deals, or
    `inputs` is None); returns the matches written."""
    advocates = (
        inputs.advocates
        if inputs is not None
        else pd.DataFrame({c: pd.Series(dtype=object) for c in ADVOCATE_COLUMNS})
    )
    write_advocates_parquet(advocates, folder / ADVOCATES_FILE)
    deals = inputs.open_opportunities if inputs is not None else None
    rows = _empty_matches()
    if deals is not None and len(deals) and len(advocates):
        soonest = most_urgent(deals, settings.matching.max_open_deals)
        rows = assign_open(load_advocates(folder), soonest, settings.matching)
    write_matches_csv(rows, folder / MATCHES_FILE, encoding=settings.outputs.csv_encoding)
    return rows
