"""Per-module mutation scores from the last ``mutmut run`` (docs/testing.md).

    .venv/bin/python tests/mutation_score.py [--survivors]

Reads mutmut's own result files (``mutants/**/*.py.meta``); a timeout counts
as killed (the tests noticed: they did not finish), a mutant no test runs as
surviving. The score is killed / all mutants: equivalent mutants (ones no
test could tell apart from the original) are left in, so a module whose
survivors are all equivalent scores below 100%.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KILLED = {1, 3, 36, 24, -24, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}


def main(argv: list[str]) -> int:
    metas = sorted(Path("mutants").glob("**/*.py.meta"))
    if not metas:
        print("no results: run `.venv/bin/mutmut run` first", file=sys.stderr)
        return 1
    for meta in metas:
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        killed = sum(1 for c in codes.values() if c in KILLED)
        survived = sorted(k for k, c in codes.items() if c in SURVIVED)
        untested = sorted(k for k, c in codes.items() if c in NO_TESTS)
        unchecked = sum(1 for c in codes.values() if c is None)
        module = str(meta.relative_to("mutants")).removesuffix(".meta")
        print(
            f"{module}: {killed}/{len(codes)} killed ({100 * killed / len(codes):.1f}%), "
            f"{len(survived)} survived, {len(untested)} with no test, {unchecked} not run"
        )
        if "--survivors" in argv:
            for name in survived + untested:
                print(f"    {name}{'  (no test)' if name in untested else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
