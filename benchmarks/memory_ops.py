"""Experience-memory latency (a benchmark, not a test).

Fills a Chroma memory with synthetic TextCraft-like records through the real backup path,
then times: task embedding (MiniLM ONNX), ``retrieve`` (ANN + same-task candidates + scoring),
``apply_episode`` (a 10-step backup, atomic upsert), and optionally one agent decision with
the embedded model (``--decisions N``).

    python benchmarks/memory_ops.py [--sizes 100 1000 5000] [--decisions 5] [--out benchmarks/results/memory_ops.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _episode(i: int, rng: random.Random, goals: list[str]):
    from rememberer.memory import Episode, Transition

    goal = rng.choice(goals)
    items = ["stone", "oak logs", "stick", "diamond", "string", "iron ingot", "glass", "sand"]
    transitions = []
    held: list[str] = []
    for t in range(10):
        held = sorted(set(held + [rng.choice(items)]))
        obs = "Inventory: " + ", ".join(f"[{x}] ({rng.randint(1, 4)})" for x in held)
        transitions.append(Transition(f"Goal: craft {goal}.", obs, f"get 1 {rng.choice(items)}", 1.0 if t == 9 and i % 3 == 0 else 0.0))
    return Episode(f"bench-{i}", tuple(transitions), final_observation="done", terminal=True)


def bench_size(size: int, queries: int = 200) -> dict:
    from rememberer.memory import ExperienceMemory, RLEMConfig
    from rememberer.tasks.textcraft import inventory_similarity
    from rememberer.tasks.textcraft.env import all_goals, name_of

    rng = random.Random(size)
    goals = [name_of(g) for g, _ in all_goals()]
    with tempfile.TemporaryDirectory() as tmp:
        memory = ExperienceMemory(tmp, namespace="bench", observation_similarity=inventory_similarity, max_records=size + 100)
        fill_started = time.perf_counter()
        i = 0
        backups = []
        while len(memory) < size:
            started = time.perf_counter()
            memory.apply_episode(_episode(i, rng, goals), RLEMConfig())
            backups.append(time.perf_counter() - started)
            i += 1
        fill = time.perf_counter() - fill_started
        retrievals = []
        for _ in range(queries):
            goal = rng.choice(goals)
            started = time.perf_counter()
            memory.retrieve(f"Goal: craft {goal}.", "Inventory: [stone] (2)", k=12)
            retrievals.append(time.perf_counter() - started)
        return {
            "records": len(memory),
            "fill_seconds": round(fill, 2),
            "backup_p50_ms": round(_pct(backups, 50) * 1e3, 2),
            "backup_p95_ms": round(_pct(backups, 95) * 1e3, 2),
            "retrieve_p50_ms": round(_pct(retrievals, 50) * 1e3, 2),
            "retrieve_p95_ms": round(_pct(retrievals, 95) * 1e3, 2),
        }


def bench_embedding(n: int = 512) -> dict:
    from rememberer.memory import MiniLMEmbedder

    embedder = MiniLMEmbedder()
    embedder.embed_documents(["warm up"])
    texts = [f"Goal: craft item number {i} from base ingredients." for i in range(n)]
    started = time.perf_counter()
    embedder.embed_documents(texts)
    batch = time.perf_counter() - started
    singles = []
    for text in texts[:50]:
        started = time.perf_counter()
        embedder.embed_documents([text])
        singles.append(time.perf_counter() - started)
    return {"batch_texts_per_second": round(n / batch, 1), "single_p50_ms": round(statistics.median(singles) * 1e3, 2)}


def bench_decisions(count: int) -> dict:
    from rememberer.graph import AgentContext, graph, recursion_limit
    from rememberer.nodes.models import load_model
    from rememberer.tasks import load_task_set

    tasks = load_task_set("textcraft")
    model = load_model("local")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AgentContext(task_set="textcraft", model_instance=model, memory_dir=tmp, max_steps=count, task_set_instance=tasks)
        started = time.perf_counter()
        state = graph.invoke({"goal_id": tasks.goals("test")[0]}, context=ctx, config={"recursion_limit": recursion_limit(count)})
        wall = time.perf_counter() - started
    steps = state["steps"]
    return {
        "decisions": len(steps),
        "seconds_per_decision": round(wall / max(1, len(steps)), 2),
        "model_seconds_per_decision": round(sum(s.model_seconds for s in steps) / max(1, len(steps)), 2),
        "mean_prompt_tokens": round(sum(s.prompt_tokens for s in steps) / max(1, len(steps))),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--decisions", type=int, default=0, help="also time N agent decisions with the local model")
    parser.add_argument("--out", default="benchmarks/results/memory_ops.json")
    args = parser.parse_args(argv)
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "embedding": bench_embedding(),
        "sizes": [bench_size(size) for size in args.sizes],
    }
    if args.decisions:
        results["agent"] = bench_decisions(args.decisions)
    print(f"MiniLM (int8 ONNX): {results['embedding']['batch_texts_per_second']} texts/s batched, "
          f"{results['embedding']['single_p50_ms']} ms for one text")
    print(f"{'records':>8} {'fill s':>8} {'backup p50':>11} {'backup p95':>11} {'retrieve p50':>13} {'retrieve p95':>13}")
    for row in results["sizes"]:
        print(f"{row['records']:>8} {row['fill_seconds']:>8} {row['backup_p50_ms']:>9} ms {row['backup_p95_ms']:>8} ms "
              f"{row['retrieve_p50_ms']:>10} ms {row['retrieve_p95_ms']:>10} ms")
    if "agent" in results:
        a = results["agent"]
        print(f"agent decision (local model): {a['seconds_per_decision']} s each ({a['model_seconds_per_decision']} s in the model, "
              f"{a['mean_prompt_tokens']} prompt tokens) over {a['decisions']} decisions")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"results written to {out}")
    return results


if __name__ == "__main__":
    main()
