"""Memory at scale (a benchmark, not a test): retrieval, decision and backup cost as the store grows.

Builds synthetic TextCraft-shaped records with the project's own API (``upsert`` of
``ExperienceRecord`` in batches, hashing embedder so the build is not dominated by MiniLM):
record ``i`` is a pure function of ``i``, every task has 20 states, and every 50th record
belongs to one *hot* task (2,000 states at 100k, more than Chroma's 1,000-row page of a
same-task query). ``--store DIR`` keeps one store per size (``DIR/records-SIZE``) and reuses
it; ``--build-only`` builds them and measures nothing. At each size it measures

* ``retrieve`` (k = 12, task embedding cached as in a run): *cold*, the first query after a
  write (nothing cached), and *warm*, a later decision of the same episode (the store has not
  changed since); the exact stored state must be in the top 12 every time, also for the hot task;
* the non-model part of one agent decision: the real graph (reset, retrieve, advise,
  call_model, parse, step_env) on TextCraft with this store injected and a fake model that
  answers at once, frozen memory; (wall − model time) per decision;
* ``apply_episode`` with the memory *full* (``max_records`` = size, so new keys evict);
* one eviction of a fixed number of records (``--evict``, plus the minimum slack of 64) found
  with the eviction index, and with the scan of every unpinned record it replaced (up to
  ``--scan-up-to`` records: the scan grows with the store).

A store built before the eviction index existed is indexed once when first measured (the time is
in the row). ``--max-build-minutes`` stops a build at a batch boundary when its time is up; the
sizes are then what was built (the rows say how many records were measured; nothing is
extrapolated).

    python benchmarks/memory_scale.py [--sizes 1000 10000 100000] [--store DIR] [--series LABEL --append]
                                      [--out benchmarks/results/memory_scale.json]
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

ITEMS = ["stone", "oak logs", "stick", "diamond", "string", "iron ingot", "glass", "sand", "coal", "wool"]
STATES_PER_TASK = 20
HOT_EVERY = 50
HOT_TASK = "Goal: craft stone block hot."


def task_of(i: int) -> str:
    if i % HOT_EVERY == 0:
        return HOT_TASK
    t = i // STATES_PER_TASK
    return f"Goal: craft {ITEMS[t % len(ITEMS)]} block {t}."


def make_record(i: int):
    """Record ``i`` (deterministic in ``i``, so a store can be extended later)."""
    from rememberer.memory import ExperienceRecord
    from rememberer.memory.records import ActionValue, Provenance

    rng = random.Random(i)
    inventory = ", ".join(f"[{rng.choice(ITEMS)}] ({rng.randint(1, 9)})" for _ in range(3))
    now = time.time() - rng.random() * 86400
    return ExperienceRecord(
        task=task_of(i),
        observation=f"Inventory: {inventory} #{i}",
        actions=[ActionValue(action=f"get {rng.randint(1, 4)} {rng.choice(ITEMS)}", q=rng.random(), visits=1, updated_at=now)
                 for _ in range(2)],
        visits=1,
        provenance=Provenance(created_at=now, updated_at=now),
    )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round((len(ordered) - 1) * q)))]


BUILD_BATCH = 5000
"""Records per ``upsert`` while building (Chroma's embedded client takes at most 5,461 at once)."""


def build(memory, directory: Path | None, size: int, deadline: float | None = None) -> float:
    """Add records until ``size`` have been built (the count survives in ``bench-built.json``),
    ``BUILD_BATCH`` at a time through ``ExperienceMemory.upsert``."""
    marker = directory / "bench-built.json" if directory else None
    built = json.loads(marker.read_text())["built"] if marker and marker.exists() else 0
    start, started = built, time.perf_counter()
    batch = []
    while built < size:
        if deadline is not None and not batch and time.monotonic() > deadline:
            print(f"build stopped at {built:,} records: --max-build-minutes is up", flush=True)
            break
        batch.append(make_record(built))
        built += 1
        if len(batch) == BUILD_BATCH or built == size:
            memory.upsert(batch)
            batch = []
            if marker:
                marker.write_text(json.dumps({"built": built}))
            if built % 50_000 < BUILD_BATCH:
                rate = (built - start) / max(time.perf_counter() - started, 1e-9)
                print(f"built {built:,} ({rate:.0f} records/s)", flush=True)
    return time.perf_counter() - started


def time_retrieval(memory, size: int, queries: int, rng: random.Random, hot: bool) -> dict:
    cold, warm, exact = [], [], 0
    for _ in range(queries):
        i = rng.randrange(size)
        if hot:
            i -= i % HOT_EVERY
        elif i % HOT_EVERY == 0:
            i += 1
        record = make_record(i)
        if memory.get(record.task, record.observation) is None:  # evicted by a backup probe
            continue
        memory.embed_task(record.task)  # the task embedding is cached in a run
        memory._read_cache = None  # as after a write: nothing cached
        t0 = time.perf_counter()
        memory.retrieve(record.task, record.observation, k=12)
        cold.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()  # the next decision of the same episode: a new state of the same task
        memory.retrieve(record.task, record.observation + " (next)", k=12)
        warm.append((time.perf_counter() - t0) * 1000)
        hits = memory.retrieve(record.task, record.observation, k=12)
        exact += any(h.record.observation == record.observation for h in hits)
    return {"cold_p50_ms": round(statistics.median(cold), 2), "cold_p95_ms": round(_p(cold, 0.95), 2),
            "warm_p50_ms": round(statistics.median(warm), 2), "warm_p95_ms": round(_p(warm, 0.95), 2),
            "exact_state_in_top12": f"{exact}/{len(cold)}"}


def time_decisions(memory, episodes: int) -> dict:
    """The real graph, frozen memory, a fake model that answers at once: what a decision costs
    besides the model."""
    from rememberer.fakes import AdviceFollowingModel
    from rememberer.graph import AgentContext, graph, recursion_limit
    from rememberer.tasks import load_task_set

    tasks = load_task_set("textcraft")
    per_decision = []
    goals = tasks.goals("test")[:episodes + 1]
    for n, goal in enumerate(goals):  # the first episode warms up (imports, first Chroma calls) and is not counted
        ctx = AgentContext(task_set="textcraft", memory_keys="verbatim", model_instance=AdviceFollowingModel(),
                           memory_instance=memory, task_set_instance=tasks, max_steps=10, training=False)
        started = time.perf_counter()
        state = graph.invoke({"goal_id": goal}, context=ctx, config={"recursion_limit": recursion_limit(10)})
        wall = time.perf_counter() - started
        steps = state["steps"]
        if steps and n > 0:
            per_decision.append((wall - sum(s.model_seconds for s in steps)) * 1000 / len(steps))
    return {"decision_overhead_p50_ms": round(statistics.median(per_decision), 2),
            "decision_overhead_max_ms": round(max(per_decision), 2), "decision_episodes": len(per_decision)}


def time_full_backups(memory, size: int) -> dict:
    from rememberer.memory import Episode, RLEMConfig, Transition

    memory.max_records = len(memory)  # full: every new key evicts
    backup_ms, evicted = [], 0
    stamp = time.time_ns()
    for e in range(20):
        task = f"Goal: craft probe {e} at {size}."
        steps = tuple(Transition(task, f"probe state {stamp}-{e}-{t}", "get 1 stone", 1.0 if t == 9 else 0.0) for t in range(10))
        t0 = time.perf_counter()
        evicted += memory.apply_episode(Episode(f"probe-{stamp}-{e}", steps, final_observation="end"), RLEMConfig()).evicted
        backup_ms.append((time.perf_counter() - t0) * 1000)
    memory.max_records = 10**9
    return {"backup_full_p50_ms": round(statistics.median(backup_ms), 1), "backup_full_max_ms": round(max(backup_ms), 1),
            "evicted": evicted}


def time_eviction(memory, evict: int, scan: bool) -> dict:
    """One eviction of ``evict`` records (+ the minimum slack of 64): the time to find the victims
    and delete them, with the index and (``scan``) with the scan it replaced, each on the same
    store (the victims are gone afterwards)."""
    out = {}
    saved = memory.max_records, memory.evict_slack, memory.eviction_index
    modes = [("index", True)] + ([("scan", False)] if scan else [])
    try:
        for name, flag in modes:
            memory.eviction_index, memory.evict_slack = flag, 0.0  # slack: the minimum, 64 records
            total = len(memory)
            memory.max_records = total - min(evict, total // 4)
            finder = "_oldest_indexed" if flag else "_oldest_by_scan"
            found = []

            def timed(*a, _real=getattr(memory, finder)):
                t = time.perf_counter()
                try:
                    return _real(*a)
                finally:
                    found.append(time.perf_counter() - t)

            setattr(memory, finder, timed)
            with memory._write_lock():
                t0 = time.perf_counter()
                evicted = memory._evict_for(0, total)
                out[f"evict_{name}_ms"] = round((time.perf_counter() - t0) * 1000, 1)
                memory._after_write(total - evicted)
            delattr(memory, finder)
            out[f"evict_{name}_find_ms"] = round(found[0] * 1000, 1)  # choosing the victims; the rest is Chroma's delete
            out[f"evicted_{name}"] = evicted
    finally:
        memory.max_records, memory.evict_slack, memory.eviction_index = saved
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--episodes", type=int, default=5, help="TextCraft episodes for the decision overhead")
    parser.add_argument("--store", default=None, help="keep the synthetic stores here (DIR/records-SIZE) and reuse them "
                        "(default: a temporary directory)")
    parser.add_argument("--build-only", action="store_true", help="only build (or extend) --store up to the largest size")
    parser.add_argument("--no-backup", action="store_true", help="skip the full-memory backups (they evict records of a kept store)")
    parser.add_argument("--evict", type=int, default=1000, help="records one measured eviction frees (plus 64)")
    parser.add_argument("--scan-up-to", type=int, default=100_000,
                        help="also time the old scan eviction on stores up to this size")
    parser.add_argument("--max-build-minutes", type=float, default=None,
                        help="stop building when this time is up and measure what was built")
    parser.add_argument("--decisions-only", action="store_true",
                        help="measure only the non-model decision overhead (with --episodes; rows to --out)")
    parser.add_argument("--series", default="", help="a label for this run (what changed, the machine's state)")
    parser.add_argument("--append", action="store_true",
                        help="keep what --out holds: earlier rows (or, with --decisions-only, earlier runs) of other series")
    parser.add_argument("--out", default="benchmarks/results/memory_scale.json")
    args = parser.parse_args()

    from rememberer.memory import ExperienceMemory, HashingEmbedder
    from rememberer.tasks import load_task_set

    similarity = load_task_set("textcraft").similarity("verbatim")
    rng = random.Random(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sorted(args.sizes):
            directory = Path(args.store or tmp) / f"records-{size}"  # one store per size, kept with --store
            memory = ExperienceMemory(directory, namespace="scale", embedder=HashingEmbedder(384), max_records=10**9,
                                      observation_similarity=similarity)
            deadline = time.monotonic() + args.max_build_minutes * 60 if args.max_build_minutes else None
            build_seconds = build(memory, directory, size, deadline)
            if args.build_only:
                print(f"{directory}: {len(memory)} records; built {build_seconds:.0f} s now", flush=True)
                continue
            if args.decisions_only:
                row = {"records": len(memory), **time_decisions(memory, args.episodes),
                       "load_1min": round(os.getloadavg()[0], 2)}
                rows.append(row)
                print(row, flush=True)
                continue
            row = {"records": len(memory), "built_now_s": round(build_seconds, 1)}
            index = memory._index()
            if index is None or not index.built():  # a store built before the eviction index existed
                t0 = time.perf_counter()
                memory.rebuild_eviction_index()
                row["index_built_now_s"] = round(time.perf_counter() - t0, 1)
            row.update({k: v for k, v in time_retrieval(memory, size, args.queries, rng, hot=False).items()})
            row.update({f"hot_{k}": v for k, v in time_retrieval(memory, size, max(10, args.queries // 5), rng, hot=True).items()})
            row.update(time_decisions(memory, args.episodes))
            if not args.no_backup:
                row.update(time_full_backups(memory, size))
                row.update(time_eviction(memory, args.evict, scan=len(memory) <= args.scan_up_to))
            row["load_1min"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(row, flush=True)
    if args.build_only:
        return
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()}
    earlier = json.loads(out.read_text()) if args.append and out.exists() else {}
    if args.decisions_only:  # {"runs": [...]}, newest first
        run = {**meta, "episodes": args.episodes, "series": args.series, "rows": rows}
        runs = [r for r in earlier.get("runs", []) if r.get("series", "") != args.series]
        out.write_text(json.dumps({"runs": [run] + runs}, indent=1) + "\n")
        for r in rows:
            print(f"| {r['records']:,} | {r['decision_overhead_p50_ms']} | {r['decision_overhead_max_ms']} | "
                  f"{r['decision_episodes']} | {r['load_1min']} |")
        return
    print()
    print("| records | retrieve cold p50 / p95 ms | warm p50 / p95 ms | hot task: cold / warm p50 ms | exact in top 12 (hot) "
          "| decision, non-model p50 ms | backup (full) p50 / max ms | evict N: find victims, index / scan ms (with Chroma's delete) | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        evict = (f"{r.get('evicted_index', '-')}: {r.get('evict_index_find_ms', '-')} / {r.get('evict_scan_find_ms', '-')} "
                 f"({r.get('evict_index_ms', '-')} / {r.get('evict_scan_ms', '-')})")
        print(f"| {r['records']:,} | {r['cold_p50_ms']} / {r['cold_p95_ms']} | {r['warm_p50_ms']} / {r['warm_p95_ms']} | "
              f"{r['hot_cold_p50_ms']} / {r['hot_warm_p50_ms']} | {r['exact_state_in_top12']} ({r['hot_exact_state_in_top12']}) | "
              f"{r['decision_overhead_p50_ms']} | {r.get('backup_full_p50_ms', '-')} / {r.get('backup_full_max_ms', '-')} | "
              f"{evict} | {r['load_1min']} |")
    for r in rows:
        r["series"] = args.series
    kept = [r for r in earlier.get("rows", []) if r.get("series", "") != args.series]
    out.write_text(json.dumps({**meta, "rows": kept + rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
