"""``python -m lossparity promote FILE [--to DIR]``: make saved fuzz counterexamples cases of the suite.

A fuzzing run saves each shrunk failure to ``.lossparity/counterexamples/<adapter>-<binding>.toml``
(git-ignored; ``--counterexamples DIR`` elsewhere).  Runs never write into ``cases/``: a counterexample
becomes a case that every later run replays only through this command, after a person has looked at it.
Each case is validated before it is copied; a case id already present in the target file is skipped.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cases

CASES_FUZZ = Path(__file__).resolve().parents[1] / "cases" / "fuzz"


def promote(source: Path, target_dir: Path) -> list[str]:
    """Append the cases of ``source`` not yet in ``target_dir/<source name>``; returns the ids added."""
    found = cases.load_file(source)  # raises CaseError naming file, case and field
    target = target_dir / source.name
    existing = {c.id for c in cases.load_file(target)} if target.exists() else set()
    text = source.read_text(encoding="utf-8")
    header, _, body = text.partition("[[case]]")
    blocks = ["[[case]]" + b for b in body.split("[[case]]") if b.strip()] if body else []
    added, keep = [], []
    for case, block in zip(found, blocks):
        if case.id not in existing:
            added.append(case.id)
            keep.append(block.rstrip() + "\n")
    if keep:
        target_dir.mkdir(parents=True, exist_ok=True)
        prefix = "" if target.exists() else header
        with open(target, "a", encoding="utf-8") as handle:
            handle.write(prefix + ("\n" if target.exists() else "") + "\n".join(keep))
        cases.load_file(target)  # the result still validates
    return added


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lossparity", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("promote", help="copy saved counterexamples into cases/fuzz")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--to", type=Path, default=CASES_FUZZ, help=f"target folder (default {CASES_FUZZ})")
    args = parser.parse_args(argv)
    for path in args.files:
        try:
            added = promote(path, args.to)
        except (OSError, cases.CaseError) as exc:
            print(f"{path}: {exc}", file=sys.stderr)
            return 2
        print(f"{path}: {len(added)} case(s) added to {args.to / path.name}" + (f": {', '.join(added)}" if added else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
