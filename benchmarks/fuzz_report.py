"""Run the fuzz corpus of tests/fuzz_corpus.py and count, per command, what bad inputs did.

Columns: cases tried, clean errors (exit 2, one ``error:`` line), tracebacks, silent garbage
(exit 0 on bad input, or an error that names the wrong problem), data lost (a file outside the
output created or changed) and code executed (a pickle's payload ran). Besides the hand-made
cases, ``--generated N`` random ``meta.json``/``trials.csv`` pairs go through ``calm info``
(valid ones must be read, invalid ones refused) and every bad recording through the napari
reader (it must return None or raise one-line :class:`CalmError`).

Usage::

    python benchmarks/fuzz_report.py [--generated 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

import numpy as np  # noqa: E402

from fuzz_corpus import PWNED, all_cases, random_meta_case, reader_inputs, run_case, sidecars_valid  # noqa: E402

VERDICTS = ["clean", "traceback", "garbage", "lost", "executed"]
HEADER = ["cases", "clean errors", "tracebacks", "silent garbage", "data lost", "code executed"]
FS_POOL = [10.0, 30, 2.2, None, -1, 0, 1e300, float("nan"), float("inf"), True, "abc", "30", [10], {"a": 1}]
CELL_POOL = ["0", "5", "10", "100", "599", "600", "-3", "12345678901234567890123", "abc", "", "4.5", "nan",
             "1e3", "601"]


def _reader_counts(root: Path) -> Counter:
    from napari_calm._reader import napari_get_reader
    from src_models.errors import CalmError

    counts: Counter = Counter()
    for path in reader_inputs(root):
        counts["cases"] += 1
        try:
            reader = napari_get_reader(str(path))
            if reader is not None:
                reader(str(path))
                counts["garbage"] += 1
                continue
            counts["clean"] += 1
        except CalmError as exc:
            counts["clean" if "\n" not in str(exc) else "traceback"] += 1
        except Exception:  # noqa: BLE001 - anything else reaches the user as a traceback
            counts["traceback"] += 1
    counts["executed"] += len(list(root.rglob(PWNED)))
    return counts


def main() -> int:
    """Run everything and print one markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=int, default=200, help="random sidecar cases (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows: dict[str, Counter] = defaultdict(Counter)
    t0 = time.perf_counter()
    for case in all_cases():
        with tempfile.TemporaryDirectory() as d:
            outcome = run_case(case, Path(d))
        rows[case.command]["cases"] += 1
        rows[case.command][outcome.verdict] += 1
        if outcome.verdict != "clean":
            print(f"{outcome.verdict}: {case.command}: {case.name}", file=sys.stderr)
    rng = np.random.default_rng(args.seed)
    key = "info (generated sidecars)"
    for _ in range(args.generated):
        fs = FS_POOL[rng.integers(len(FS_POOL))]
        cells = (CELL_POOL[rng.integers(len(CELL_POOL))], CELL_POOL[rng.integers(len(CELL_POOL))])
        with tempfile.TemporaryDirectory() as d:
            outcome = run_case(random_meta_case(fs, cells), Path(d))
        rows[key]["cases"] += 1
        if sidecars_valid(fs, cells) and outcome.status == 0:
            rows[key]["valid, read"] += 1
        else:
            rows[key][outcome.verdict] += 1
    with tempfile.TemporaryDirectory() as d:
        rows["napari reader"] = _reader_counts(Path(d))
    total: Counter = Counter()
    print("| command | " + " | ".join(HEADER) + " |")
    print("|---" * (len(HEADER) + 1) + "|")
    for name, c in rows.items():
        total.update(c)
        cases = f"{c['cases']}" + (f" ({c['valid, read']} valid, read)" if c["valid, read"] else "")
        print(f"| {name} | {cases} | " + " | ".join(str(c[v]) for v in VERDICTS) + " |")
    print(f"| **all** | {total['cases']} | " + " | ".join(str(total[v]) for v in VERDICTS) + " |")
    print(f"\n{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
