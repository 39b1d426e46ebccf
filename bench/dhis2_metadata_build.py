"""Time to build the DHIS2 metadata package from a loaded codebook, and what the package holds.

Prints numbers; asserts nothing. The rule compilation (inlining calculations, lifting if(),
guarding empties) is timed on its own because it is the part that grows with expressions.
Usage: python bench/dhis2_metadata_build.py [--repeat N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from tipdata.codebook import load_codebook
from tipdata.dhis2_app.metadata import DeploymentPolicy, build_metadata
from tipdata.dhis2_app.program_rules import plan_program_rules


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    codebook = load_codebook()
    builds, serialise, rules = [], [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        package = build_metadata(codebook, DeploymentPolicy())
        t1 = time.perf_counter()
        content = package.to_bytes()
        t2 = time.perf_counter()
        builds.append(t1 - t0)
        serialise.append(t2 - t1)
    places = {code: None if element.level == "person" else element.level
              for code, element in codebook.elements.items()
              if element.sensitivity not in ("direct_identifier", "restricted")}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        plan_program_rules(codebook, places)
        rules.append(time.perf_counter() - t0)
    counts = {key: len(value) for key, value in package.json.items()}
    print(f"codebook: {len(codebook.elements)} elements, {len(codebook.option_lists)} option lists, "
          f"{len(codebook.languages)} languages")
    print("package: " + ", ".join(f"{key} {count}" for key, count in counts.items()))
    print(f"package size: {len(content) / 1024:.0f} KiB, warnings: {len(package.warnings)}")
    for name, values in (("build_metadata", builds), ("  of which rules", rules),
                         ("to_bytes", serialise)):
        print(f"{name:>16}: median {statistics.median(values):.3f} s, min {min(values):.3f} s, "
              f"max {max(values):.3f} s  (n={len(values)})")


if __name__ == "__main__":
    main()
