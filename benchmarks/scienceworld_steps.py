"""Step latency of the ScienceWorld adapter with and without the valid-action list (a benchmark).

Starts the shared JVM, then for each of the first ``--goals`` goals of ``test_transfer`` and of
``test`` (all 30 task types) plays the gold path (at most ``--steps`` actions), once with the
valid-action list off and once on, and reports p50/p95 per step, reset times and the JVM start.

    python benchmarks/scienceworld_steps.py [--goals 30] [--steps 15] [--out benchmarks/results/scienceworld_steps.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q / 100 * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--goals", type=int, default=30, help="goals of the 'test' split (round-robin over task types)")
    parser.add_argument("--steps", type=int, default=15, help="gold actions played per goal")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from rememberer.tasks import load_task_set
    from rememberer.tasks.scienceworld import java_available, shutdown_engine
    from rememberer.tasks.scienceworld.env import engine

    if not java_available():
        sys.exit("scienceworld_steps: Java is not on PATH")
    start = time.perf_counter()
    engine()
    jvm_s = time.perf_counter() - start
    times: dict[str, list[float]] = {"reset (list off)": [], "reset (list on)": [], "step (list off)": [], "step (list on)": []}
    valid_sizes: list[int] = []
    goals = list(load_task_set("scienceworld").goals("test"))[: args.goals]
    for listed in (False, True):
        env = load_task_set("scienceworld", valid_actions=listed, max_steps=10**6).make_env()
        tag = "on" if listed else "off"
        for goal in goals:
            env.reset(goal)
            gold = env.gold_actions()[: args.steps]
            t0 = time.perf_counter()
            obs = env.reset(goal)
            times[f"reset (list {tag})"].append((time.perf_counter() - t0) * 1000)
            for action in gold:
                t0 = time.perf_counter()
                obs = env.step(action)
                times[f"step (list {tag})"].append((time.perf_counter() - t0) * 1000)
                if listed and obs.valid_actions is not None:
                    valid_sizes.append(len(obs.valid_actions))
                if obs.done:
                    break
    shutdown_engine()
    rows = {k: {"n": len(v), "p50_ms": round(_pct(v, 50), 2), "p95_ms": round(_pct(v, 95), 2),
                "steps_per_s": round(1000 / statistics.mean(v), 1)} for k, v in times.items()}
    print(f"ScienceWorld adapter on {len(goals)} test goals (all task types), <= {args.steps} gold steps each -- "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"JVM start: {jvm_s:.2f} s; valid-action list size: median {statistics.median(valid_sizes):.0f}, "
          f"max {max(valid_sizes)}")
    print(f"{'':20} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'steps/s':>8}")
    for k, r in rows.items():
        print(f"{k:20} {r['n']:5d} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f} {r['steps_per_s']:8.1f}")
    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}, "jvm_start_s": round(jvm_s, 2),
              "valid_list_size": {"median": statistics.median(valid_sizes), "max": max(valid_sizes)}, "rows": rows}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
