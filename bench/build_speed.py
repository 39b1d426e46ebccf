"""Time to load the codebook and build every artifact (no engine validation).

Target (issue 2): under 5 s. Prints numbers; asserts nothing.
Usage: python bench/build_speed.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tipdata.build import build_artifacts, write_artifacts
from tipdata.codebook import load_codebook


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    loads, builds, writes, totals = [], [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        codebook = load_codebook()
        t1 = time.perf_counter()
        artifacts = build_artifacts(codebook)
        t2 = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            write_artifacts(artifacts, Path(out))
        t3 = time.perf_counter()
        loads.append(t1 - t0)
        builds.append(t2 - t1)
        writes.append(t3 - t2)
        totals.append(t3 - t0)
    print(
        f"codebook: {len(codebook.elements)} elements, {len(codebook.option_lists)} option lists, "
        f"{len(codebook.forms)} forms, {len(codebook.languages)} languages"
    )
    print(f"artifacts: {len(artifacts)} ({sum(len(a.content) for a in artifacts) / 1024:.0f} KiB)")
    for name, values in (
        ("load+validate", loads),
        ("build", builds),
        ("write", writes),
        ("total", totals),
    ):
        print(
            f"{name:>14}: median {statistics.median(values):.3f} s, "
            f"min {min(values):.3f} s, max {max(values):.3f} s  (n={len(values)})"
        )
    print(f"target < 5 s: {'met' if max(totals) < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
