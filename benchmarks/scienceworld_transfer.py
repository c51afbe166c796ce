"""ScienceWorld variation transfer with controlled policies (an experiment, not a test).

Trains on training variations of the four transfer task types (``train_transfer``) and evaluates
on unseen test variations of the same types (``test_transfer``), with the valid-action list on
and two controlled policies at the model seam:

* ``advice``: :class:`rememberer.fakes.AdviceFollowingModel` (copies the encouraged action of the
  last exemplar when it is valid now, else ``look around``);
* ``random``: a random valid action each step (seeded).

Conditions: no memory; fixed exemplars (the initial pool, no training); REMEMBERER trained with
Monte-Carlo returns; REMEMBERER trained with n-step returns; random valid actions. Memory is the
project's real Chroma store in a temporary directory.

    python benchmarks/scienceworld_transfer.py [--train-goals 8] [--epochs 2] [--test-goals 16]
        [--max-steps 20] [--n-step 2] [--out benchmarks/results/scienceworld_transfer.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage


class RandomValidModel(GenericFakeChatModel):
    """Answers with a uniformly random action from the prompt's Available Actions (seeded)."""

    seed: int = 0
    messages: object = iter(())
    rng: object = None

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        from langchain_core.outputs import ChatGeneration, ChatResult

        if self.rng is None:
            self.rng = random.Random(self.seed)
        new_input = messages[-1].content.rsplit("Now the new input:", 1)[-1]
        available = re.findall(r"^- (.+)$", new_input.split("Available Actions:", 1)[-1].split("...", 1)[0], re.M)
        choice = self.rng.choice(available) if available else "look around"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=f"{choice} -> 0.5 random"))])


def run_condition(name: str, *, policy: str, memory: str, n_step: int | None, args, root: Path) -> dict:
    from rememberer.fakes import AdviceFollowingModel
    from rememberer.runner import Run, RunSettings
    from rememberer.tasks import load_task_set

    tasks = load_task_set("scienceworld", valid_actions=True, max_steps=args.max_steps)
    train = list(tasks.goals("train_transfer"))[: args.train_goals]
    test = list(tasks.goals("test_transfer"))[: args.test_goals]
    model = AdviceFollowingModel(default="look around") if policy == "advice" else RandomValidModel(seed=args.seed)
    settings = RunSettings(
        task_set="scienceworld", model="fake", memory_dir=str(root / f"memory-{name}"), runs_dir=str(root / "runs"),
        run_name=name, train_split="train_transfer", test_split="test_transfer", train_goals=len(train),
        test_goals=len(test), epochs=args.epochs, use_memory=memory != "none", max_steps=args.max_steps,
        n_step=n_step, seed=args.seed, decoding="generate",
    )
    start = time.perf_counter()
    run = Run(settings, model=model, task_set=tasks)
    if memory == "learned":
        run.train(train, args.epochs)
    run.evaluate(test)
    wall = time.perf_counter() - start
    evals = [r for r in run.results if r.phase == "eval"]
    trains = [r for r in run.results if r.phase == "train"]
    steps = sum(r.steps for r in run.results)
    return {
        "condition": name,
        "policy": policy,
        "memory": memory,
        "n_step": n_step,
        "train_episodes": len(trains),
        "test_episodes": len(evals),
        "test_success": sum(r.success for r in evals) / max(len(evals), 1),
        "test_mean_score": round(100 * sum(r.reward for r in evals) / max(len(evals), 1), 1),
        "test_failures_-100": sum(r.reward <= -0.999 for r in evals),
        "train_mean_score": round(100 * sum(r.reward for r in trains) / max(len(trains), 1), 1) if trains else None,
        "memory_records": run.memory.stats().get("records") if memory != "none" else 0,
        "steps": steps,
        "wall_s": round(wall, 1),
        "per_goal": {r.goal_id: round(100 * r.reward) for r in evals},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-goals", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--test-goals", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=20)
    parser.add_argument("--n-step", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    from rememberer.tasks.scienceworld import java_available, shutdown_engine

    if not java_available():
        sys.exit("scienceworld_transfer: Java is not on PATH")
    conditions = [
        ("no-memory", "advice", "none", None),
        ("fixed-exemplars", "advice", "pool", None),
        ("rememberer-mc", "advice", "learned", None),
        (f"rememberer-{args.n_step}step", "advice", "learned", args.n_step),
        ("random-valid", "random", "none", None),
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, policy, memory, n_step in conditions:
            row = run_condition(name, policy=policy, memory=memory, n_step=n_step, args=args, root=Path(tmp))
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "per_goal"}), flush=True)
    shutdown_engine()
    print(f"\nScienceWorld transfer: train {args.train_goals} goals x {args.epochs} epochs (train_transfer), "
          f"test {args.test_goals} unseen variations (test_transfer), step cap {args.max_steps}")
    print(f"{'condition':22} {'test eps':>8} {'success':>8} {'mean score':>10} {'-100s':>6} {'train score':>11} {'records':>8} {'wall s':>7}")
    for r in rows:
        print(f"{r['condition']:22} {r['test_episodes']:8d} {r['test_success']:8.0%} {r['test_mean_score']:10.1f} "
              f"{r['test_failures_-100']:6d} {str(r['train_mean_score']):>11} {str(r['memory_records']):>8} {r['wall_s']:7.1f}")
    if args.out:
        payload = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "settings": vars(args),
            "rows": rows,
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
