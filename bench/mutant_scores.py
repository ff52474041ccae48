"""Per-module mutation scores from mutmut 3's result files (mutants/<path>.meta).

    python bench/mutant_scores.py [module ...]     # e.g. regularizers optimizers (default: all)

Prints killed / total per mutated file and lists every mutant that was not killed
(survived, no tests, timeout, ...) with its status.  A timeout counts as killed, as in
mutmut's own score; "no tests" means no selected test calls the function.  Run from the
project root after ``mutmut run``; ``mutmut show NAME`` prints a mutant's diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# mutmut.stats.status_by_exit_code, copied so that this script needs no mutmut import
STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 2: "interrupted", None: "not checked",
          33: "no tests", 34: "skipped", 35: "suspicious", 36: "timeout", 37: "type check",
          -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault"}
KILLED = {"killed", "timeout", "type check"}


def scores(root: Path, only: list[str]) -> int:
    metas = sorted((root / "mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/: run `mutmut run` first", file=sys.stderr)
        return 1
    rows, left = [], []
    for meta in metas:
        src = meta.relative_to(root / "mutants").as_posix()[:-len(".meta")]
        if only and Path(src).stem not in only:
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        status = {k: STATUS.get(v, "suspicious") for k, v in codes.items()}
        checked = {k: s for k, s in status.items() if s != "not checked"}
        killed = sum(s in KILLED for s in checked.values())
        rows.append((src, killed, len(checked), len(status)))
        left += [(src, k, s) for k, s in sorted(status.items()) if s not in KILLED and s != "not checked"]
    print(f"{'module':40} {'killed':>7} {'total':>6} {'score':>7}")
    for src, killed, total, generated in rows:
        score = f"{100 * killed / total:.1f}%" if total else "-"
        note = f"  ({generated - total} not run)" if generated != total else ""
        print(f"{src:40} {killed:7d} {total:6d} {score:>7}{note}")
    if left:
        print("\nnot killed:")
        for src, name, s in left:
            print(f"  {s:10} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(scores(Path.cwd(), sys.argv[1:]))
