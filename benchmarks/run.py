"""Run every benchmark in this folder, one after another, and print their results.

Usage::

    python benchmarks/run.py            # each benchmark with --quick
    python benchmarks/run.py --full     # the full sizes the docs report
    python benchmarks/run.py smtp pop3  # only bench_smtp.py and bench_pop3.py

Each ``bench_<area>.py`` runs standalone and compares rfcmail with its peers
side by side in one run; this runner only collects them, then repeats every
line that states a ratio so the comparisons stand together at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("areas", nargs="*", help="areas to run (default: all)")
    parser.add_argument("--full", action="store_true", help="run the full sizes, not --quick")
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.areas:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.areas]
    ratios: list[str] = []
    failed: list[str] = []
    for script in scripts:
        command = [sys.executable, str(script)] + ([] if args.full else ["--quick"])
        print(f"=== {script.name} ===", flush=True)
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True)
        print(result.stdout, end="")
        if result.returncode != 0:
            print(result.stderr, end="", file=sys.stderr)
            failed.append(script.name)
        print(f"--- {script.name}: exit {result.returncode} in {time.monotonic() - started:.1f} s", flush=True)
        ratios.extend(f"{script.stem}: {line.strip()}" for line in result.stdout.splitlines()
                      if "ratio" in line.lower() or " x " in line or line.strip().endswith("x"))
    if ratios:
        print("\n=== ratios ===")
        print("\n".join(ratios))
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
