"""Run every benchmark, print their tables and write JSON results to benchmarks/results/.

    python benchmarks/run.py [--quick] [--decisions N]

Benchmarks measure speed on the machine at hand; nothing here asserts a time (that is what
benchmarks are for, not tests). Report the numbers with the machine they came from.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument("--decisions", type=int, default=5, help="agent decisions with the local model (0 = skip)")
    parser.add_argument("--webshop-data", default=None)
    args = parser.parse_args()
    import memory_ops

    print("== experience memory ==")
    memory_ops.main(["--sizes", *(["100", "500"] if args.quick else ["100", "1000", "5000"]), "--decisions", str(args.decisions),
                     "--out", str(HERE / "results" / "memory_ops.json")])
    print("\n== WebShop environment ==")
    import webshop_steps

    webshop_argv = ["--out", str(HERE / "results" / "webshop_steps.json")]
    if args.webshop_data:
        webshop_argv += ["--data-dir", args.webshop_data]
    try:
        webshop_steps.main(webshop_argv)
    except SystemExit as exc:  # argparse or a missing data directory
        if exc.code not in (0, None):
            print(f"webshop benchmark skipped (exit {exc.code})")


if __name__ == "__main__":
    main()
