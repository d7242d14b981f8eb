"""The `advocacy` command line (docs/outputs.md): the stable interface for people and jobs.

Exit codes (`advocacy.pipelines.errors`): 0 success; 1 data contract failure or unusable data
folder (nothing published); 2 usage or configuration error; 3 any other failure, with one line
on stderr saying what went wrong and where (tracebacks only with -v); 128 + N when stopped by
signal N (130 for Ctrl-C). `--as-of` is parsed here, once, into a date.

Cheap checks run before Prefect starts (it takes 20-45 s on a busy machine): the settings
file, the data folder, the out folder. Start-up, logging and signals: `pipelines/runtime.py`.
On a terminal, every long command prints one progress line per stage on stderr (name, rows,
seconds) with a live bar meanwhile; `-q` turns them off (`pipelines/progress.py`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from advocacy.pipelines import progress, runtime
from advocacy.pipelines.errors import EXIT_CONTRACT, EXIT_OK


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="advocacy", description="Whom to ask for advocacy this week, and whom to leave alone."
    )
    parser.add_argument(
        "--config", type=Path, help="settings YAML (default: config/advocacy.yaml if present)"
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="progress logging, and tracebacks on failure"
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress lines on the terminal (they are only shown when stderr is a terminal)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="write a synthetic data folder that honours the contract")
    gen.add_argument("--out", type=Path, required=True, help="folder to write the six tables into")
    gen.add_argument(
        "--contacts", type=_positive_int, default=5000, help="number of contacts (default 5000)"
    )
    gen.add_argument("--seed", type=int, default=0, help="random seed (same seed, same files)")
    gen.add_argument(
        "--as-of", type=_date, help="end of the generated history (default: today, UTC)"
    )
    gen.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    gen.add_argument(
        "--future-days", type=int, default=0, help="also write rows up to N days after --as-of"
    )

    val = sub.add_parser("validate", help="run every data contract and print a per-table report")
    _data_args(val)
    val.add_argument(
        "--docs-dir",
        type=Path,
        help="where GX Data Docs go (default: validation.data_docs_dir if set, "
        "else <output_root>/validation)",
    )

    tr = sub.add_parser(
        "train", help="build features, train both models, register, promote champions"
    )
    _data_args(tr)
    _new_store_arg(tr)
    _engine_arg(tr)

    for name, text in (
        ("score", "score the population with the champion models and publish"),
        ("run", "the weekly job: validate, features, train, score, publish (one Prefect flow)"),
    ):
        p = sub.add_parser(name, help=text)
        _data_args(p)
        p.add_argument(
            "--out", type=Path, help="publish here (default: output/<as_of>/ + output/latest)"
        )
        if name == "run":
            _new_store_arg(p)
        _engine_arg(p)

    bt = sub.add_parser(
        "backtest", help="replay the weekly job at past dates and measure what happened after"
    )
    bt.add_argument(
        "--data", type=Path, required=True, help="data folder with the six input tables"
    )
    bt.add_argument(
        "--from", dest="start", type=_date, required=True, help="first as_of (YYYY-MM-DD)"
    )
    bt.add_argument("--to", dest="end", type=_date, required=True, help="last as_of (YYYY-MM-DD)")
    bt.add_argument("--every", type=_positive_int, default=7, help="days between dates (default 7)")
    bt.add_argument(
        "--out", type=Path, required=True, help="OUT/<as_of>/ per date, OUT/backtest.csv, .html"
    )
    _new_store_arg(bt)

    srv = sub.add_parser(
        "serve", help="serve the weekly flow as a Prefect deployment on a cron schedule"
    )
    srv.add_argument(
        "--data", type=Path, required=True, help="data folder read by every scheduled run"
    )
    srv.add_argument(
        "--out", type=Path, help="publish folder (default: output/<as_of>/ + output/latest)"
    )
    srv.add_argument("--cron", help="cron schedule (default from settings: Monday 06:00 UTC)")
    _match_parsers(sub)
    return parser


def _match_parsers(sub: Any) -> None:
    """`match` and `api`: advocates for a deal from the latest published run (docs/matching.md)."""
    m = sub.add_parser("match", help="the best advocates for an opportunity, or for all open ones")
    m.add_argument("--data", type=Path, required=True, help="data folder with the opportunities")
    which = m.add_mutually_exclusive_group(required=True)
    which.add_argument("--opportunity", help="answer this opportunity_id")
    which.add_argument("--open", action="store_true", help="assign every open opportunity")
    m.add_argument("--top", type=_positive_int, help="advocates shown (default: matching.top)")
    m.add_argument("--run", type=Path, help="published run folder (default: output/latest)")
    m.add_argument("--out", type=Path, help="--open: matches.csv here (default: <run>/matches.csv)")
    m.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    api = sub.add_parser("api", help="serve advocates for a deal over HTTP (FastAPI, /docs)")
    api.add_argument("--data", type=Path, required=True, help="data folder with the opportunities")
    api.add_argument("--run", type=Path, help="published run folder (default: output/latest)")
    api.add_argument("--host", help="bind address (default: matching.api_host, 127.0.0.1)")
    api.add_argument("--port", type=int, help="port (default: matching.api_port)")


def _new_store_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--new-store",
        action="store_true",
        help="start a new MLflow store where the old one is missing or empty (registry is lost)",
    )


def _engine_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        help="where features and scores are computed (default: engine.name, duckdb); spark "
        "needs pip install '.[spark]' and Java 17 (docs/scale-out.md)",
    )


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, required=True, help="data folder with the six input tables")
    p.add_argument("--as-of", type=_date, help="the run's date T (default: today, UTC)")


def _as_of(args: argparse.Namespace) -> date:
    return getattr(args, "as_of", None) or datetime.now(UTC).date()  # serve has no --as-of


# ------------------------------------------------------------------ commands
def cmd_match(args: argparse.Namespace) -> int:
    from advocacy.pipelines import match
    from advocacy.pipelines.errors import EXIT_USAGE
    from advocacy.settings import load_settings

    settings = load_settings(_config(args))
    try:
        published = match.load_advocates(match.run_folder(settings, args.run))
        if args.open:
            return _match_open(args, settings, published)
        opportunity = match.read_opportunity(args.data, args.opportunity)
    except match.MatchInputError as exc:
        print(f"advocacy: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if opportunity is None:
        print(f"advocacy: error: unknown opportunity {args.opportunity!r}", file=sys.stderr)
        return EXIT_USAGE
    top = args.top or settings.matching.top
    rows = match.answer(published, opportunity, settings.matching, top)
    _print_matches(rows, args.json)
    return EXIT_OK


def _match_open(args: argparse.Namespace, settings: Any, published: Any) -> int:
    from advocacy.pipelines import match

    if published.as_of is None:
        raise match.MatchInputError(f"run {published.run_dir} has no advocates (nothing to assign)")
    opps = match.open_opportunities(args.data, published.as_of)
    rows = match.assign_open(published, opps, settings.matching)
    out = args.out or published.run_dir / match.MATCHES_FILE
    match.write_matches_csv(rows, Path(out), encoding=settings.outputs.csv_encoding)
    _print_matches(rows, args.json)
    print(f"assigned {len(rows)} advocates to {len(opps)} open opportunities: {out}")
    return EXIT_OK


def _print_matches(rows: Any, as_json: bool) -> None:
    if as_json:
        print(rows.to_json(orient="records", indent=2))
    else:
        _print_table(rows.to_dict("records"))


def cmd_api(args: argparse.Namespace) -> int:
    from advocacy.pipelines import api, match
    from advocacy.pipelines.errors import EXIT_USAGE
    from advocacy.settings import load_settings

    settings = load_settings(_config(args))
    try:
        app = api.create_app(args.data, settings, args.run)
    except match.MatchInputError as exc:
        print(f"advocacy: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    m = settings.matching
    api.serve(app, args.host or m.api_host, args.port or m.api_port)
    return EXIT_OK


def cmd_generate(args: argparse.Namespace) -> int:
    from advocacy.synthetic.world import generate

    rows = generate(
        args.out, contacts=args.contacts, seed=args.seed, as_of=args.as_of,
        fmt=args.format, future_days=args.future_days,
    )  # fmt: skip
    for table, n in rows.items():
        print(f"  {table:<22} {n:>12,} rows")
    print(f"wrote {len(rows)} tables to {args.out}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    settings = _checked_inputs(args)
    from advocacy.data_contracts.validate import validate_folder

    docs_dir = args.docs_dir or runtime.data_docs_dir(settings)
    shown = _progress(args)
    lines = progress.TableLines(shown) if shown.enabled else None
    report = validate_folder(
        args.data, settings, docs_dir=docs_dir, as_of=_as_of(args), progress=lines
    )
    print(report.to_text())
    return EXIT_OK if report.ok else EXIT_CONTRACT


def cmd_train(args: argparse.Namespace) -> int:
    _prepare_flow_run(args)
    from advocacy.pipelines.flows import train_flow
    from advocacy.pipelines.lineage import outcome_row

    with _steps_shown(args):
        outcomes = train_flow(
            str(args.data), _as_of(args).isoformat(), _config(args), new_store=args.new_store,
            engine=args.engine,
        )  # fmt: skip
    _print_table([outcome_row(o) for o in outcomes])
    return EXIT_OK


def cmd_score(args: argparse.Namespace) -> int:
    _prepare_flow_run(args, publishes=True)
    from advocacy.pipelines.flows import score_flow

    with _steps_shown(args):
        published = score_flow(
            str(args.data), _as_of(args).isoformat(), _out(args), _config(args), args.engine
        )
    _print_published(published)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    _prepare_flow_run(args, publishes=True)
    from advocacy.pipelines.flows import weekly_flow

    with _steps_shown(args):
        published = weekly_flow(
            str(args.data), _as_of(args).isoformat(), _out(args), _config(args),
            new_store=args.new_store, engine=args.engine,
        )  # fmt: skip
    _print_published(published)
    return EXIT_OK


def cmd_backtest(args: argparse.Namespace) -> int:
    """No Prefect: the backtest calls the job's steps in plain Python (pipelines/backtest.py)."""
    settings = _checked_inputs(args)
    from advocacy.pipelines import backtest, job

    dates = backtest.backtest_dates(args.start, args.end, args.every)
    backtest.check_out(args.out, dates)  # UnsafeOutputError: exit 2, before any work
    if args.new_store:
        settings = job.with_new_store(settings)
    inputs = backtest.BacktestInputs(
        data=args.data, start=args.start, end=args.end, every=args.every, out_dir=args.out,
        settings=settings,
    )  # fmt: skip
    result = backtest.run_backtest(inputs, progress=_progress(args))
    print(f"backtest of {len(result.dates)} dates published to {args.out}")
    print(f"  {args.out / backtest.CSV}")
    print(f"  {args.out / backtest.HTML}")
    print(f"  MLflow parent run {result.parent_run_id}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _prepare_flow_run(args, publishes=args.out is not None)
    from advocacy.pipelines.deploy import serve

    serve(args.data, settings, out_dir=args.out, cron=args.cron, config_path=_config(args))
    return EXIT_OK


# ------------------------------------------------------------------ checks before Prefect
def _checked_inputs(args: argparse.Namespace) -> Any:
    """The settings (SettingsError: exit 2) and the data folder (DataFolderError: exit 1)."""
    from advocacy.data_contracts.load import check_data_folder
    from advocacy.settings import load_settings

    settings = load_settings(args.config)
    check_data_folder(args.data)
    return settings


def _prepare_flow_run(args: argparse.Namespace, *, publishes: bool = False) -> Any:
    """Everything that can fail in a second, then Prefect's API (started if need be)."""
    settings = _checked_inputs(args)
    if (getattr(args, "engine", None) or settings.engine.name) == "spark":
        runtime.check_spark_available()  # exit 2 in a second, not after Prefect starts
    if publishes:
        from advocacy.pipelines.publish import check_target, resolve_out_dir

        target, _ = resolve_out_dir(args.out, _as_of(args), settings.output_root)
        check_target(target)  # UnsafeOutputError: exit 2, before a long run
    runtime.apply_settings(settings)
    with _progress(args).stage("start Prefect"):
        runtime.start_prefect()
    return settings


def _progress(args: argparse.Namespace) -> progress.Progress:
    """Progress lines on stderr when it is a terminal, unless --quiet."""
    return progress.Progress(quiet=getattr(args, "quiet", False))


@contextlib.contextmanager
def _steps_shown(args: argparse.Namespace) -> Iterator[None]:
    """While a flow runs, its job's steps report themselves (the flows run `flows.PREFECT`)."""
    from advocacy.pipelines import flows

    saved = flows.PREFECT
    flows.PREFECT = progress.wrap(saved, _progress(args))
    try:
        yield
    finally:
        flows.PREFECT = saved


def _config(args: argparse.Namespace) -> str | None:
    return str(args.config) if args.config else None


def _out(args: argparse.Namespace) -> str | None:
    return str(args.out) if args.out else None


def _print_published(published: str) -> None:
    folder = Path(published)
    print(f"published to {folder}")
    from advocacy.pipelines.outputs import FILES, ranker_lines

    for name in [*sorted(FILES[:-1]), FILES[-1]]:  # the list first, the manifest last
        print(f"  {folder / name}")
    manifest = json.loads((folder / FILES[-1]).read_text(encoding="utf-8"))
    for line in ranker_lines(manifest):  # the small-data fallback, said plainly
        print(line)


def _print_table(rows: list[dict]) -> None:
    if not rows:
        return
    cols = list(rows[0])
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print("  ".join(c.ljust(widths[c]) for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in cols))


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "generate": cmd_generate, "validate": cmd_validate, "train": cmd_train,
    "score": cmd_score, "run": cmd_run, "serve": cmd_serve, "backtest": cmd_backtest,
    "match": cmd_match, "api": cmd_api,
}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    if args.command == "backtest" and args.end < args.start:
        parser.error("backtest: --to is before --from")
    runtime.prepare_environment(args.verbose)  # before anything imports Prefect or MLflow
    runtime.configure_logging(args.verbose)
    with runtime.signals_raise_exit():
        try:
            code = COMMANDS[args.command](args)
            stop = runtime.stopped_by()  # a library swallowed the signal: still report it
            return (
                code
                if stop is None
                else _report_stop(stop.signal_name, int(stop.code), args.verbose, stop)
            )
        except runtime.Terminated as exc:
            return _report_stop(exc.signal_name, int(exc.code), args.verbose, exc)
        except KeyboardInterrupt as exc:
            return _report_stop("SIGINT", 130, args.verbose, exc)
        except Exception as exc:
            stop = runtime.stopped_by()  # a library wrapped our signal into its own error
            if stop is not None:
                return _report_stop(stop.signal_name, int(stop.code), args.verbose, exc)
            return _report_failure(exc, args.verbose)


def _report_stop(name: str, code: int, verbose: bool, exc: BaseException) -> int:
    """Stopped from outside: Prefect's temporary server is stopped at exit (atexit)."""
    if verbose:
        traceback.print_exception(exc)
    print(f"advocacy: stopped by {name}", file=sys.stderr)
    return code


def _report_failure(exc: BaseException, verbose: bool) -> int:
    from advocacy.pipelines.errors import describe

    code, line, detail = describe(exc)
    if detail:
        print(detail, file=sys.stdout)
    if verbose:
        traceback.print_exception(exc)
    print(f"advocacy: error: {line}", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
