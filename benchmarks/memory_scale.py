"""Memory at scale (a benchmark, not a test): retrieval and backup cost as the store grows.

Builds synthetic TextCraft-shaped records with the project's own API (``upsert`` of
``ExperienceRecord`` in batches, hashing embedder so the build is not dominated by MiniLM),
then at each size times ``retrieve`` (the non-model part of a decision's memory access,
task embedding cached) and ``apply_episode`` with the memory *full* (``max_records`` = size,
so every new key triggers eviction). It also checks the two correctness bugs of issue 16:
the exact stored state is always in the top results, and eviction works above 32,766
unpinned records (Chroma's SQL-variable limit).

    python benchmarks/memory_scale.py [--sizes 1000 10000 40000] [--out benchmarks/results/memory_scale.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

ITEMS = ["stone", "oak logs", "stick", "diamond", "string", "iron ingot", "glass", "sand", "coal", "wool"]


def _record(i: int, rng: random.Random, n_goals: int):
    from rememberer.memory import ExperienceRecord
    from rememberer.memory.records import ActionValue, Provenance

    goal = f"Goal: craft {rng.choice(ITEMS)} block {i % n_goals}."
    inventory = ", ".join(f"[{rng.choice(ITEMS)}] ({rng.randint(1, 9)})" for _ in range(3))
    now = time.time() - rng.random() * 86400
    return ExperienceRecord(
        task=goal,
        observation=f"Inventory: {inventory} #{i}",
        actions=[ActionValue(action=f"get {rng.randint(1, 4)} {rng.choice(ITEMS)}", q=rng.random(), visits=1, updated_at=now)
                 for _ in range(2)],
        visits=1,
        provenance=Provenance(created_at=now, updated_at=now),
    )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round((len(ordered) - 1) * q)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 40000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--out", default="benchmarks/results/memory_scale.json")
    args = parser.parse_args()

    from rememberer.memory import Episode, ExperienceMemory, HashingEmbedder, RLEMConfig, Transition

    rng = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        memory = ExperienceMemory(Path(tmp) / "m", namespace="scale", embedder=HashingEmbedder(384), max_records=10**9)
        built: list = []
        for size in sorted(args.sizes):
            started = time.perf_counter()
            batch = []
            while len(built) < size:
                record = _record(len(built), rng, n_goals=max(10, size // 200))
                built.append(record.key)
                batch.append(record)
                if len(batch) == 1000 or len(built) == size:
                    memory.upsert(batch)
                    batch = []
            build_seconds = time.perf_counter() - started
            retrieve_ms, exact_hits = [], 0
            for q in range(args.queries):
                task, observation = built[rng.randrange(len(built))]
                while memory.get(task, observation) is None:  # evicted by an earlier size's probe
                    task, observation = built[rng.randrange(len(built))]
                memory.embed_task(task)  # the task embedding is cached in a run
                t0 = time.perf_counter()
                hits = memory.retrieve(task, observation, k=12)
                retrieve_ms.append((time.perf_counter() - t0) * 1000)
                exact_hits += any(h.record.observation == observation for h in hits)
            memory.max_records = size  # full: every new key evicts
            backup_ms, evicted = [], 0
            for e in range(20):
                task = f"Goal: craft probe {e} at {size}."
                steps = tuple(Transition(task, f"probe state {size}-{e}-{t}", "get 1 stone", 1.0 if t == 9 else 0.0) for t in range(10))
                t0 = time.perf_counter()
                evicted += memory.apply_episode(Episode(f"probe-{size}-{e}", steps, final_observation="end"), RLEMConfig()).evicted
                backup_ms.append((time.perf_counter() - t0) * 1000)
            memory.max_records = 10**9
            row = {
                "records": size,
                "build_s": round(build_seconds, 1),
                "retrieve_p50_ms": round(statistics.median(retrieve_ms), 2),
                "retrieve_p95_ms": round(_p(retrieve_ms, 0.95), 2),
                "exact_state_in_top12": f"{exact_hits}/{args.queries}",
                "backup_full_p50_ms": round(statistics.median(backup_ms), 1),
                "backup_full_max_ms": round(max(backup_ms), 1),
                "evicted": evicted,
            }
            rows.append(row)
            print(row, flush=True)
    print()
    print("| records | build s | retrieve p50 ms | p95 ms | exact state in top 12 | backup (full) p50 ms | max ms | evicted |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['records']:,} | {r['build_s']} | {r['retrieve_p50_ms']} | {r['retrieve_p95_ms']} | {r['exact_state_in_top12']} | "
              f"{r['backup_full_p50_ms']} | {r['backup_full_max_ms']} | {r['evicted']} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "python": platform.python_version(), "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
