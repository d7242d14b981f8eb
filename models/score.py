"""Score the population with the champion models and shape the published tables.

Models are duck-typed: anything with `predict_proba(X)` and `contributions(X)` (the
unwrapped `models.pyfunc_model.AdvocacyModel` loaded from the registry).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from advocacy.features import registry
from advocacy.models.reasons import top_reasons

from advocacy.settings import Settings

SCORES_COLUMNS = (
    "contact_id", "account_id", "as_of", "p_advocate", "p_burnout", "priority",
    "eligible", "ineligible_reason", "reasons", "model_versions",
)  # fmt: skip
CANDIDATES_COLUMNS = (
    "rank", "contact_id", "full_name", "email", "title", "account_id", "account_name",
    "segment", "industry", "p_advocate", "p_burnout", "priority", "suggested_activity",
    "reasons", "as_of",
)  # fmt: skip


class ScoringModel(Protocol):
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...
    def contributions(self, X: pd.DataFrame) -> pd.DataFrame: ...


def score_population(
    frame: pd.DataFrame,
    advocate: ScoringModel,
    burnout: ScoringModel,
    settings: Settings,
    *,
    chunk_rows: int = 250_000,
) -> pd.DataFrame:
    """contact_id, account_id, p_advocate, p_burnout, reasons: one row per scoring row.

    Works in chunks so contributions and reason text for a million contacts stay small.
    """
    parts = [
        _score_chunk(frame.iloc[i : i + chunk_rows], advocate, burnout, settings)
        for i in range(0, len(frame), chunk_rows)
    ]
    if not parts:
        return pd.DataFrame(
            columns=["contact_id", "account_id", "p_advocate", "p_burnout", "reasons"]
        )
    return pd.concat(parts, ignore_index=True)


def _score_chunk(
    chunk: pd.DataFrame, advocate: ScoringModel, burnout: ScoringModel, settings: Settings
) -> pd.DataFrame:
    X = chunk[registry.feature_names()]
    contrib = advocate.contributions(X)
    return pd.DataFrame(
        {
            "contact_id": chunk["contact_id"].to_numpy(),
            "account_id": chunk["account_id"].to_numpy(),
            "p_advocate": np.asarray(advocate.predict_proba(X), dtype=float),
            "p_burnout": np.asarray(burnout.predict_proba(X), dtype=float),
            "reasons": top_reasons(contrib, X, settings.ranking.reasons_per_contact),
        }
    )


def model_versions_text(versions: dict[str, int]) -> str:
    """'advocacy-propensity=3,advocacy-burnout=2': which registry versions scored a row."""
    return ",".join(f"{name}={version}" for name, version in versions.items())


def scores_table(ranked: pd.DataFrame, as_of: date, versions: dict[str, int]) -> pd.DataFrame:
    out = ranked.copy()
    out["as_of"] = pd.Timestamp(as_of).date()
    out["model_versions"] = model_versions_text(versions)
    out["eligible"] = out["eligible"].astype(bool)
    return out[list(SCORES_COLUMNS)]


def candidates_table(
    shortlist: pd.DataFrame, details: pd.DataFrame, suggested: pd.Series, as_of: date
) -> pd.DataFrame:
    """The marketer's list; `suggested` is the activity type per contact_id."""
    out = shortlist.merge(details, on="contact_id", how="left", validate="one_to_one")
    out["suggested_activity"] = out["contact_id"].map(suggested)
    out["as_of"] = pd.Timestamp(as_of).date()
    for col in ("p_advocate", "p_burnout", "priority"):
        out[col] = out[col].round(4)
    return out[list(CANDIDATES_COLUMNS)]


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: object) -> object:
    """`'` before a text value a spreadsheet would run as a formula; anything else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every text cell neutralised; numbers, booleans, dates and nulls untouched.

    Only text is escaped: a negative probability or rank stays a number in the file.
    """
    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if not (
            pd.api.types.is_numeric_dtype(s)
            or pd.api.types.is_bool_dtype(s)
            or pd.api.types.is_datetime64_any_dtype(s)
        ):
            out[col] = s.map(neutralise_formula, na_action="ignore")
    return out


def write_candidates_csv(
    candidates: pd.DataFrame, path: Path, *, encoding: str = "utf-8-sig"
) -> None:
    """candidates.csv for people with spreadsheets: formula cells neutralised, BOM by default.

    `utf-8-sig` writes a byte-order mark so Excel and LibreOffice's default import read the
    file as UTF-8 ("Rómulo", not "RÃ³mulo"); `utf-8` leaves it out. Rows end in CRLF
    (RFC 4180), which also makes the writer quote any cell holding a bare CR or LF.
    """
    spreadsheet_safe(candidates).to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
