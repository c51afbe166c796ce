"""Scaling out (a benchmark, not a test): episodes per minute with a model that answers after 200 ms.

* in one process: 1, 4 and 16 episodes at once, on an event loop (``batch_episodes``: the
  graph's ``abatch`` with the awaited model node) and on threads (``Run.train(concurrency=k)``,
  what ``rememberer train --concurrency K`` does);
* on Ray (``RayRun``, a local Ray instance) with 1 and 8 workers sharing one ``chroma run``
  memory server on 127.0.0.1.

Every episode is the same corridor walk (``corridor-N#i``: N-1 decisions, as many model calls,
a backup), so the rates compare; ``--decisions 4 10`` runs the whole plan for 4-decision and
10-decision episodes (a TextCraft episode takes about 10). The fake model is :class:`rememberer.fakes.SlowModel`
(``fake:slow:0.2``): it sleeps (sync) or awaits (async) 200 ms per call, like a remote endpoint.

    python benchmarks/distributed.py [--latency 0.2] [--skip-ray | --ray-only] [--series LABEL --append]
                                     [--out benchmarks/results/distributed.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL = "corridor-5"  # set by --decisions: corridor-(d+1) takes d decisions


def _goals(n: int, tag: int) -> list[str]:
    return [f"{GOAL}#{tag * 1000 + i}" for i in range(n)]


def _memory(tmp: Path, name: str):
    from rememberer.memory import ExperienceMemory, HashingEmbedder
    from rememberer.tasks import load_task_set

    tasks = load_task_set("chain")
    return ExperienceMemory(tmp / name, namespace="chain", embedder=HashingEmbedder(64),
                            observation_similarity=tasks.observation_similarity)


def bench_abatch(k: int, episodes: int, latency: float, tmp: Path) -> dict:
    from rememberer.fakes import SlowModel
    from rememberer.graph import AgentContext, batch_episodes, graph, recursion_limit
    from rememberer.tasks import load_task_set

    tasks = load_task_set("chain")
    context = AgentContext(task_set="chain", model_instance=SlowModel(latency=latency), memory_instance=_memory(tmp, f"abatch-{k}"),
                           task_set_instance=tasks, max_steps=12)
    batch_episodes(graph, [{"goal_id": GOAL, "episode_id": f"warm-{k}"}], context=context, concurrency=1,
                   config={"recursion_limit": recursion_limit(12)})
    inputs = [{"goal_id": g, "episode_id": f"abatch-{k}-{g}"} for g in _goals(episodes, k)]
    started = time.perf_counter()
    states = batch_episodes(graph, inputs, context=context, concurrency=k, config={"recursion_limit": recursion_limit(12)})
    wall = time.perf_counter() - started
    assert all(s["success"] for s in states)
    return {"mode": "abatch", "concurrent": k, "episodes": episodes, "wall_s": round(wall, 2),
            "episodes_per_min": round(episodes * 60 / wall, 1), "peak_model_calls": context.model_instance.peak}


def bench_threads(k: int, episodes: int, latency: float, tmp: Path) -> dict:
    from rememberer.fakes import SlowModel
    from rememberer.runner import Run, RunSettings

    settings = RunSettings(task_set="chain", runs_dir=str(tmp / "runs"), run_name=f"threads-{k}", max_steps=12, drop_solved=False)
    model = SlowModel(latency=latency)
    run = Run(settings, model=model, memory=_memory(tmp, f"threads-{k}"))
    run.evaluate([GOAL], phase="warmup")
    started = time.perf_counter()
    run.train(_goals(episodes, k), 1, concurrency=k)
    wall = time.perf_counter() - started
    assert all(r.success for r in run.results)
    return {"mode": "threads", "concurrent": k, "episodes": episodes, "wall_s": round(wall, 2),
            "episodes_per_min": round(episodes * 60 / wall, 1), "peak_model_calls": model.peak}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chroma_server(tmp: Path):
    import chromadb
    from chromadb.config import Settings

    binary = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    port = _free_port()
    server = subprocess.Popen(["timeout", "1800", binary, "run", "--host", "127.0.0.1", "--port", str(port), "--path",
                               str(tmp / "server")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False)).heartbeat()
            return server, f"http://127.0.0.1:{port}"
        except Exception:
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("chroma server did not start")
            time.sleep(0.3)


def bench_ray(workers: int, episodes: int, latency: float, tmp: Path, url: str) -> dict:
    from rememberer.distributed import RayRun
    from rememberer.runner import RunSettings

    settings = RunSettings(task_set="chain", model=f"fake:slow:{latency}", runs_dir=str(tmp / "runs"), run_name=f"ray-{workers}",
                           max_steps=12, drop_solved=False, memory_url=url, ray="local", workers=workers,
                           namespace=f"bench-ray-{workers}")
    run = RayRun(settings)
    try:
        run.evaluate(_goals(workers, 99), phase="warmup")  # every worker up and warm
        started = time.perf_counter()
        run.train(_goals(episodes, workers), 1)
        wall = time.perf_counter() - started
    finally:
        run.close()
    assert all(r.success for r in run.results)
    return {"mode": "ray", "workers": workers, "episodes": episodes, "wall_s": round(wall, 2),
            "episodes_per_min": round(episodes * 60 / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--skip-ray", action="store_true", help="no Ray rows")
    parser.add_argument("--ray-only", action="store_true", help="only the Ray rows (1 and 8 workers)")
    parser.add_argument("--series", default="", help="a label for this run's rows (what changed, the machine's state)")
    parser.add_argument("--append", action="store_true",
                        help="keep the rows of other series already in --out (rows of the same --series are replaced)")
    parser.add_argument("--decisions", type=int, nargs="+", default=[4, 10], help="decisions per episode (each a separate plan)")
    parser.add_argument("--out", default="benchmarks/results/distributed.json")
    args = parser.parse_args()
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    global GOAL
    plan = {1: 6, 4: 16, 16: 48}  # episodes per setting: a few rounds each
    rows = []
    for decisions in args.decisions:
        GOAL = f"corridor-{decisions + 1}"
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            for k, n in ({} if args.ray_only else plan).items():
                for bench in (bench_abatch, bench_threads):
                    row = {"decisions": decisions, **bench(k, n, args.latency, tmp), "load_1min": round(os.getloadavg()[0], 2)}
                    rows.append(row)
                    print(row, flush=True)
            if not args.skip_ray:
                import ray

                ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
                server, url = _chroma_server(tmp)
                try:
                    for workers, n in ((1, 6), (8, 32)):
                        row = {"decisions": decisions, **bench_ray(workers, n, args.latency, tmp, url),
                               "load_1min": round(os.getloadavg()[0], 2)}
                        rows.append(row)
                        print(row, flush=True)
                finally:
                    server.terminate()
                    server.wait(10)
                    ray.shutdown()
    base = {(r["mode"], r["decisions"]): r["episodes_per_min"] for r in rows if r.get("concurrent", r.get("workers")) == 1}
    for r in rows:
        r["speedup"] = round(r["episodes_per_min"] / base[(r["mode"], r["decisions"])], 2)
        r["series"] = args.series
    print()
    print("| decisions/episode | mode | concurrent episodes / workers | episodes | wall s | episodes/min | × single | load |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['decisions']} | {r['mode']} | {r.get('concurrent', r.get('workers'))} | {r['episodes']} | {r['wall_s']} | "
              f"{r['episodes_per_min']} | {r['speedup']} | {r['load_1min']} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"machine": platform.platform(), "cpus": os.cpu_count(), "latency_s": args.latency, "rows": rows}
    if args.append and out.exists():  # the other series (and the file's notes) stay
        earlier = json.loads(out.read_text())
        kept = [r for r in earlier.get("rows", []) if r.get("series", "") != args.series]
        result = {**earlier, **result, "rows": rows + kept}
    out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
