"""Step latency of the offline WebShop environment (a benchmark, not a test).

Plays a fixed script on the 500 ``test_large`` goals -- reset, search with the instruction,
open the first product, click an option (when there is one), open and leave a sub-page,
buy -- and reports p50/p95 per kind of step, plus the bare BM25 search.

    python benchmarks/webshop_steps.py [--data-dir D] [--out benchmarks/results/webshop_steps.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def run(data_dir: str | None, goals_limit: int) -> dict:
    from rememberer.tasks.webshop import load_task_set
    from rememberer.tasks.webshop.pages import parse_actions

    t0 = time.perf_counter()
    task_set = load_task_set(data_dir)
    env = task_set.make_env()
    load_s = time.perf_counter() - t0
    goal_ids = list(task_set.splits["test_large"])[:goals_limit]
    times: dict[str, list[float]] = defaultdict(list)

    def timed(kind: str, fn, *args):
        start = time.perf_counter()
        out = fn(*args)
        times[kind].append((time.perf_counter() - start) * 1000)
        return out

    # warm-up: the first purchase loads the part-of-speech tagger (reported separately)
    env.reset(goal_ids[0])
    env.step("search[warm up]")
    env.step(f"click[{parse_actions(env.step('search[shoes]').observation)[2]}]")
    start = time.perf_counter()
    env.step("click[buy now]")
    tagger_load_ms = (time.perf_counter() - start) * 1000

    for goal_id in goal_ids:
        timed("reset", env.reset, goal_id)
        query = env.goal.instruction_text.split(", and price lower than")[0]
        obs = timed("search", env.step, f"search[{query}]")
        timed("index search only", env.catalog.index.search, query, 50)
        products = parse_actions(obs.observation)[2:]
        if not products:
            continue
        obs = timed("click (product)", env.step, f"click[{products[0]}]")
        options = parse_actions(obs.observation)[6:]
        if options:
            timed("click (option)", env.step, f"click[{options[0]}]")
        timed("click (sub-page)", env.step, "click[features]")
        timed("click (< prev)", env.step, "click[< prev]")
        timed("click (buy now, reward)", env.step, "click[buy now]")

    clicks = [t for kind, values in times.items() if kind.startswith("click") for t in values]
    summary = {
        kind: {"n": len(v), "p50_ms": _percentile(v, 50), "p95_ms": _percentile(v, 95), "mean_ms": statistics.fmean(v)}
        for kind, v in list(times.items()) + [("click (all)", clicks)]
    }
    return {
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
        },
        "goals": len(goal_ids),
        "load_seconds": load_s,
        "tagger_first_load_ms": tagger_load_ms,
        "steps": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="WebShop data (default: ../shared/data/webshop)")
    parser.add_argument("--out", default=None, help="write the JSON results here")
    parser.add_argument("--goals", type=int, default=500, help="number of test_large goals to play")
    args = parser.parse_args(argv)
    result = run(args.data_dir, args.goals)
    machine = result["machine"]
    print(f"WebShop steps on {result['goals']} goals -- {machine['cpu_count']} CPUs, Python {machine['python']}")
    print(f"catalog + goals + index load: {result['load_seconds']:.2f} s; tagger first load {result['tagger_first_load_ms']:.0f} ms")
    print(f"{'step':26s} {'n':>5s} {'p50 ms':>9s} {'p95 ms':>9s}")
    for kind, row in result["steps"].items():
        print(f"{kind:26s} {row['n']:5d} {row['p50_ms']:9.3f} {row['p95_ms']:9.3f}")
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
