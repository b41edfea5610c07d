"""``python -m reports``: run the suite and build the report, or work on existing results files.

    python -m reports [-- PYTEST_ARGS...]        run pytest, write reports/results.json and parity.html
    python -m reports build A.json [B.json...] [-o reports/parity.html]   (a run that died: from its journal)
    python -m reports merge A.json B.json... -o merged.json
    python -m reports diff OLD.json NEW.json     checks whose verdict or error changed
    python -m reports versions OLD.json ... NEW.json [-o reports/versions.html]
                                                 what changed between framework version sets (noxfile.py)
    python -m reports accuracy [--framework F] [--loss L] [--dtype D] [--rows N] [--results PATH]
                                                 accuracy tables (reports/accuracy.py)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from . import accuracy, html, journal, results
from .summary import summary_lines

DEFAULT_RESULTS = Path("reports/results.json")
DEFAULT_HTML = Path("reports/parity.html")
SUBCOMMANDS = ("run", "build", "merge", "diff", "versions", "accuracy")
DEFAULT_VERSIONS_HTML = Path("reports/versions.html")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reports", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run pytest, then build the report (the default)")
    run.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="results file to write")
    run.add_argument("-o", "--output", type=Path, default=DEFAULT_HTML, help="HTML report to write")
    run.add_argument("--variants", default=None, metavar="all|none|NAME,...",
                     help="process variants to run, each in its own process, merged into one report "
                          "(adapters/variants.py; default: all, or none when pytest arguments are given)")
    run.add_argument("--jobs", type=int, default=2, metavar="N", help="variant processes at a time (default 2)")
    run.add_argument("--variant-timeout", type=float, default=3600.0, metavar="S",
                     help="seconds a variant may run before it is stopped and reported lost (default 3600)")
    run.add_argument("--accuracy-rows", type=int, default=2048, metavar="N",
                     help="rows per binding of the small accuracy budget added to the report (float32; "
                          "0: none; `python -m reports accuracy` for the full tables)")
    run.add_argument("pytest_args", nargs=argparse.REMAINDER, help="arguments for pytest, after --")

    build = commands.add_parser("build", help="build the HTML report from results files (merged)")
    build.add_argument("inputs", nargs="+", type=Path)
    build.add_argument("-o", "--output", type=Path, default=DEFAULT_HTML)

    merge = commands.add_parser("merge", help="merge results files into one")
    merge.add_argument("inputs", nargs="+", type=Path)
    merge.add_argument("-o", "--output", type=Path, required=True)

    diff = commands.add_parser("diff", help="checks whose verdict or error changed from OLD to NEW")
    diff.add_argument("old", type=Path)
    diff.add_argument("new", type=Path)

    versions = commands.add_parser("versions", help="merge results of framework version sets (oldest first) and "
                                                     "show what changed between them")
    versions.add_argument("inputs", nargs="+", type=Path, help="results files, one per version set, oldest first "
                                                               "(each labelled by its file name)")
    versions.add_argument("-o", "--output", type=Path, default=DEFAULT_VERSIONS_HTML,
                          help="HTML report to write; the merged results go beside it (.json)")
    versions.add_argument("--rows", type=int, default=8, help="changed checks printed per lane")

    accuracy.add_parser(commands)
    return parser


def labels_for(paths: Sequence[Path]) -> list[str]:
    """Run labels from file names (``results-cpu.json`` → ``results-cpu``), made unique."""
    labels: list[str] = []
    for path in paths:
        label = path.stem
        while label in labels:
            label += "+"
        labels.append(label)
    return labels


def load_merged(paths: Sequence[Path]) -> dict:
    """One document from results files: a single file as it is, several merged (labelled by file name).
    A results file whose latest run never finished (its journal is still there), or a journal itself,
    gives that run's results, marked incomplete (:func:`reports.journal.load_latest`; a note says so)."""
    docs = []
    for path in paths:
        doc, note = journal.load_latest(path)
        if note:
            print(f"note: {note}", file=sys.stderr)
        docs.append(doc)
    return docs[0] if len(docs) == 1 else results.merge(docs, labels_for(paths))


def _print_report(doc: dict, output: Path) -> None:
    written = html.write_report(doc, output)
    for line in summary_lines(doc):
        print(line)
    print(f"report: {written.resolve()}")


def command_run(args: argparse.Namespace) -> int:
    """Run pytest with ``--results``, build the report from what it wrote, return pytest's exit code.

    With variants (the default without pytest arguments) every process variant of ``adapters/variants.py``
    runs in its own process, with its environment (set before any framework loads) and its full selection;
    their results files (``<results dir>/.partial/<variant>.json``) are merged into ``--results``, one run per
    variant, and the report and :mod:`reports.variants`' comparison come from the merged file.  A variant
    whose process dies or writes nothing is one ``lost`` record with the end of its log, never a crash of the
    run.  The exit code is the worst of the variants' (0 only when every variant passed).
    """
    extra = [a for a in args.pytest_args if a != "--"] if args.pytest_args[:1] == ["--"] else args.pytest_args
    chosen = _chosen_variants(args.variants, extra)
    # The previous results stay until this run has produced its own (the plugin replaces the file only
    # then); the previous page says at once that it is not this run's.
    started = time.time()
    html.mark_stale(args.output, f"a new run started at {results.now_iso()}: this page is from an earlier run")
    if not chosen:
        command = [sys.executable, "-m", "pytest", "--results", str(args.results), *extra]
        print("$ " + " ".join(command), flush=True)
        code = subprocess.call(command)
        try:
            doc, note = journal.load_latest(args.results)
        except results.ResultsError:
            doc, note = None, None
        if doc is None or (note is None and args.results.stat().st_mtime < started):
            print(f"pytest wrote no results ({args.results}); exit code {code}", file=sys.stderr)
            return code or 1
        if note:
            print(note)
        _print_report(_with_accuracy(doc, args), args.output)
        return code
    from . import variant_runs

    outcome = variant_runs.run_all(chosen, extra, args.results, jobs=args.jobs, timeout=args.variant_timeout)
    _print_report(_with_accuracy(outcome.document, args), args.output)
    for line in outcome.lines:
        print(line)
    return outcome.code


def _with_accuracy(doc: dict, args: argparse.Namespace) -> dict:
    """The run's results with the small accuracy budget added (``--accuracy-rows``; never fails the run)."""
    if args.accuracy_rows <= 0 or (doc.get("run") or {}).get("incomplete"):
        return doc
    try:
        from lossparity import accuracy as measured

        measured.run_budget(rows=args.accuracy_rows, results=args.results)
        return results.load(args.results)
    except Exception as exc:  # noqa: BLE001 - the accuracy budget is extra information, not the verdict
        print(f"accuracy budget skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return doc


def _chosen_variants(option: str | None, extra: Sequence[str]) -> list:
    from adapters import variants

    if option is None:
        option = "none" if extra else "all"
    if option == "none":
        return []
    if option == "all":
        return list(variants.VARIANTS)
    try:
        return [variants.by_name(name.strip()) for name in option.split(",") if name.strip()]
    except KeyError as exc:
        raise SystemExit(f"--variants: {exc.args[0]}") from None


def command_build(args: argparse.Namespace) -> int:
    _print_report(load_merged(args.inputs), args.output)
    return 0


def command_merge(args: argparse.Namespace) -> int:
    docs = [results.load(p) for p in args.inputs]
    merged = results.merge(docs, labels_for(args.inputs))
    results.write_atomic(args.output, merged)
    print(f"merged {len(args.inputs)} files, {len(merged['checks'])} checks: {args.output}")
    return 0


def format_change(change: dict) -> str:
    """One line per changed check: ``framework id: verdict old→new (version a → b)``."""
    old, new = change["old"], change["new"]
    parts = []
    if "verdict" in change["changed"]:
        parts.append(f"verdict {old['verdict']} → {new['verdict']}")
    for key in ("value_error", "grad_error"):
        if key in change["changed"]:
            parts.append(f"{key.split('_')[0]} error {html.fmt_error(old[key])} → {html.fmt_error(new[key])}")
    versions = f"{old['version']} → {new['version']}" if old["version"] != new["version"] else old["version"]
    reason = f" ({new['reason']})" if new["reason"] and "verdict" in change["changed"] else ""
    return f"{change['framework']} {change['id']}: {'; '.join(parts)} [{versions}]{reason}"


def command_diff(args: argparse.Namespace) -> int:
    merged = results.merge([results.load(args.old), results.load(args.new)], ["old", "new"])
    changes = results.diff_versions(merged)
    for change in changes:
        print(format_change(change))
    print(f"{len(changes)} check(s) changed between {args.old} and {args.new}")
    return 0


def command_versions(args: argparse.Namespace) -> int:
    """Merge one results file per version set (oldest first) into ``<output>.json`` beside the HTML report,
    whose "What changed between versions" section and the printed lines come from
    :func:`reports.changes.changes`."""
    from . import changes

    if len(args.inputs) < 2:
        raise SystemExit("versions: give at least two results files (one per version set, oldest first)")
    merged = load_merged(args.inputs)  # a missing or malformed file is a ResultsError: one line, exit 2
    results.write_atomic(args.output.with_suffix(".json"), merged)
    _print_report(merged, args.output)
    for line in changes.text_lines(changes.changes(merged), rows=args.rows):
        print(line)
    return 0


COMMANDS = {"run": command_run, "build": command_build, "merge": command_merge, "diff": command_diff,
            "versions": command_versions, "accuracy": accuracy.command}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; without a subcommand (or with only ``-- PYTEST_ARGS``) it is ``run``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in (*SUBCOMMANDS, "-h", "--help"):
        argv = ["run", *argv]
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except results.ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
