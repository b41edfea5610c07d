"""``python -m reports accuracy``: the accuracy tables (:mod:`lossparity.accuracy`) as a command.

    python -m reports accuracy [--framework NAME]... [--loss NAME]... [--dtype NAME]... [--rows N]
                               [--results PATH] [--save-dir DIR] [--classes K] [--device cpu|gpu|all]
                               [--search-rounds R] [--oracle-rows K] [--seed S] [--adapter MOD:ATTR]...

For each binding x argument variant x dtype of the selected frameworks: N rows (default 100000; at most
10^6 per framework call) through the framework's first unreduced form, every row's error against the
float64 reference, the worst rows re-checked with the mpmath oracle, a search around them.  Prints the
table, writes records of kind ``accuracy`` to ``--results`` (default ``.lossparity/accuracy/results.json``)
and each worst input as a case file under ``--save-dir`` (default ``.lossparity/accuracy``; both outside
the source tree, git-ignored); ``python -m lossparity promote FILE`` makes one a case of the suite.
Exit status 0, or 1 when a framework raised on a batch (its records have verdict ``fail``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

DEFAULT_RESULTS = Path(".lossparity") / "accuracy" / "results.json"
DTYPES = ("float16", "bfloat16", "float32", "float64")


def add_parser(commands) -> argparse.ArgumentParser:
    """Register the ``accuracy`` subcommand on ``commands`` (an argparse subparsers object)."""
    parser = commands.add_parser("accuracy", help="accuracy tables: worst error per framework, by search",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", action="append", default=[], metavar="NAME",
                        help="a framework (adapter name; repeatable; default: every installed one)")
    parser.add_argument("--adapter", action="append", default=[], metavar="MODULE:ATTR",
                        help="add an adapter that is not built in (repeatable)")
    parser.add_argument("--loss", action="append", default=[], metavar="NAME",
                        help="a loss or activation of the catalogue (repeatable; default: every bound one)")
    parser.add_argument("--dtype", action="append", default=[], choices=DTYPES,
                        help="a dtype (repeatable; default: every dtype the binding declares)")
    parser.add_argument("--device", choices=("cpu", "gpu", "all"), default="cpu")
    parser.add_argument("--rows", type=int, default=100_000, metavar="N",
                        help="rows per binding, argument variant and dtype (default 100000)")
    parser.add_argument("--classes", type=int, default=10, metavar="K", help="class axis length (default 10)")
    parser.add_argument("--search-rounds", type=int, default=12, metavar="R", help="hill-climbing rounds (12)")
    parser.add_argument("--oracle-rows", type=int, default=32, metavar="K",
                        help="worst rows re-checked with the mpmath oracle (32; gradients half)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help=f"results file ({DEFAULT_RESULTS})")
    parser.add_argument("--save-dir", type=Path, default=None,
                        help="where worst inputs are saved as case files (default .lossparity/accuracy)")
    parser.add_argument("--no-save", action="store_true", help="do not save worst inputs as case files")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the table")
    return parser


def _adapters(args: argparse.Namespace) -> list:
    """The built-in adapters plus ``--adapter`` ones, kept to ``--framework`` when given."""
    import adapters as builtin

    chosen = builtin.builtin(args.framework or None) + [builtin.load(spec) for spec in args.adapter]
    return [a for a in chosen if not args.framework or a.name in args.framework]


def command(args: argparse.Namespace) -> int:
    """Run the accuracy measurement the command line asks for; see the module docstring."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from lossparity import accuracy
    from reports import results

    if args.rows < 1:
        print("error: --rows must be at least 1", file=sys.stderr)
        return 2
    adapters = _adapters(args)
    missing = [a.name for a in adapters if a.available() is not None]
    for adapter in adapters:
        if adapter.available() is not None and not args.quiet:
            print(f"{adapter.name}: skipped ({adapter.available()})", file=sys.stderr)
    unknown = sorted(set(args.framework) - {a.name for a in adapters})
    if unknown:
        print(f"error: no adapter named {unknown}", file=sys.stderr)
        return 2
    save_dir = None if args.no_save else (args.save_dir or accuracy.DEFAULT_DIR)
    settings = accuracy.Settings(rows=args.rows, classes=args.classes, search_rounds=args.search_rounds,
                                 oracle_rows=args.oracle_rows, save_dir=save_dir, seed=args.seed)
    devices = ("cpu", "gpu") if args.device == "all" else (args.device,)
    chosen = accuracy.targets(adapters, args.loss or None, args.dtype or None, devices)
    if not chosen:
        print("error: nothing to measure (no available binding matches the selection"
              + (f"; unavailable: {missing}" if missing else "") + ")", file=sys.stderr)
        return 2

    def progress(target, records):
        if not args.quiet:
            extra = {r["extra"].get("quantity"): r for r in records}
            text = ", ".join(f"{q} {r['extra'].get('max_ulps', float('nan')):.3g}" if r["verdict"] == "pass"
                             else f"{q} {r['verdict']}: {r['reason']}" for q, r in extra.items())
            print(f"  {target.id}: {text}", file=sys.stderr, flush=True)

    started = results.now_iso()
    clock = time.perf_counter()
    records = accuracy.run(adapters, settings, losses=args.loss or None, dtypes=args.dtype or None, devices=devices,
                           progress=progress)
    wall = time.perf_counter() - clock
    available = [a for a in adapters if a.available() is None]
    frameworks = {a.name: a.version() for a in available}
    options = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "command"}
    run_settings = {"accuracy": dict(settings.describe(), options=options, wall_s=wall)}
    for adapter in available:  # how each framework was set up (x64, TF32...), as the pytest run records it
        describe = getattr(adapter, "settings", None)
        entry = dict(describe()) if callable(describe) else {}
        entry.setdefault("version", adapter.version())
        run_settings[adapter.name] = entry
    run = results.make_run(settings=run_settings, started=started, finished=results.now_iso(), frameworks=frameworks)
    doc = results.make_doc([results.complete_record(r) for r in records], run)
    written = results.write_atomic(args.results, doc)
    for line in accuracy.format_table(records):
        print(line)
    if not args.quiet:
        saved = sorted({r["extra"]["saved_to"] for r in records if (r.get("extra") or {}).get("saved_to")})
        print(f"{len(records)} accuracy records in {wall:.1f} s: {written}")
        if saved:
            print(f"worst inputs saved as cases ({len(saved)} files, `python -m lossparity promote FILE`): "
                  f"{Path(saved[0]).parent}")
    return 1 if any(r["verdict"] in ("fail", "error") for r in records) else 0
