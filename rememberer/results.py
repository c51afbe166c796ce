"""The results document: tables and plots regenerated from experiment outputs, never by hand.

    python -m rememberer.experiments doc OUT_DIR [OUT_DIR ...] [--doc docs/results.md]

Each ``OUT_DIR`` is what one ``python -m rememberer.experiments transfer`` wrote (or a copy of
its ``transfer.json``, such as the ones kept under ``docs/results/``): the file holds the command line, the machine, the code version and, per condition and
seed, the numbers and the run id whose directory (``OUT_DIR/runs/<run id>/config.json``) has the
full settings. The document gets one section per experiment: how it was made, the table by
group (baselines, the paper's configuration, the design, ablations, p sweep, training-goals
curve) and the plots next to it (``<doc stem>/*.png``).
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

GROUP_TITLES = {
    "baseline": "Baselines without experience",
    "paper": "The paper's configuration",
    "design": "The design (goal-relative keys) and its variants",
    "ablation": "Ablations of the design",
    "p-sweep": "p sweep of the design",
    "curve": "Training goals (train_pool) against test success",
    "epochs": "Test success after each training epoch (the design; epoch 3 is the design row)",
    "protocol": "The protocol grid: initial exemplar pools × training sets (the design, on-tree actions)",
    "layout": "Prompt layout: the goal and its context before the exemplars ('goal-first', cache-friendly) instead of after",
    "main": "Conditions",
}


def load(out_dir: str | Path) -> dict[str, Any]:
    """An experiment's results: ``OUT_DIR/transfer.json``, or a copy of that file given directly."""
    path = Path(out_dir) if str(out_dir).endswith(".json") else Path(out_dir) / "transfer.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"no experiment results at {path} (run `python -m rememberer.experiments transfer --out {out_dir}` first)") from None
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path} is not valid JSON: {exc}") from None
    data["source"] = str(path)
    data.setdefault("out_dir", str(path.parent) if path.name == "transfer.json" else None)
    return data


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a success rate (95 % by default)."""
    if n == 0:
        return float("nan"), float("nan")
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _pooled(row: dict[str, Any], runs: list[dict[str, Any]], episodes: int) -> str:
    """All test episodes of a condition pooled over seeds, with the Wilson interval: the spread
    over goals, which the seed interval misses where the actor is deterministic."""
    mine = [r for r in runs if r["condition"] == row["condition"]]
    k, n = sum(round(r["test_success"] * episodes) for r in mine), episodes * len(mine)
    low, high = wilson(k, n)
    return f"{k}/{n} ({low:.0%}–{high:.0%})" if n else "–"


def _row(row: dict[str, Any], pooled: str = "", failures: str | None = None) -> str:
    s, r, t = row["success"], row["reward"], row["train_solved"]
    train = (f"{t['mean']:.0%}" + (f" ± {t['ci95']:.0%}" if t["n"] > 1 else "")) if t["n"] else "–"
    ci = f" ± {s['ci95']:.1%}" if s["n"] > 1 else ""
    reward_ci = f" ± {r['ci95']:.3f}" if r["n"] > 1 else ""
    failed = "" if failures is None else f" {failures} |"
    return (f"| {row['condition']} | {s['n']} | {s['mean']:.1%}{ci} | {s['sd']:.1%} | {pooled} | {r['mean']:.3f}{reward_ci} |"
            f"{failed} {train} |")


def _failures(row: dict[str, Any], runs: list[dict[str, Any]], episodes: int) -> str:
    """Test episodes that ended in failure (ScienceWorld: score −100 after a wrong ``focus on``), pooled over seeds."""
    mine = [r for r in runs if r["condition"] == row["condition"]]
    return f"{sum(r.get('test_failures', 0) for r in mine)}/{episodes * len(mine)}"


def table(result: dict[str, Any]) -> str:
    groups: dict[str, list[dict[str, Any]]] = {}
    group_of = {r["condition"]: r.get("group", "main") for r in result["rows"]}
    for row in result["table"]:
        groups.setdefault(group_of.get(row["condition"], "main"), []).append(row)
    failures = any("test_failures" in r for r in result["rows"])  # tasks whose episodes can fail (a negative return)
    lines = []
    for group, rows in groups.items():
        lines += [f"**{GROUP_TITLES.get(group, group)}**", "",
                  "| condition | seeds | test success (mean ± 95 % CI over seeds) | sd | test episodes solved, pooled (Wilson 95 %) "
                  "| test reward |" + (" test episodes failed (score −100), pooled |" if failures else "")
                  + " training goals solved by the last epoch |",
                  "|---|---|---|---|---|---|---|" + ("---|" if failures else ""),
                  *(_row(row, _pooled(row, result["rows"], result["test_goals"]),
                         _failures(row, result["rows"], result["test_goals"]) if failures else None) for row in rows), ""]
    return "\n".join(lines)


def paired(result: dict[str, Any]) -> str:
    """Each learning condition against the strongest baseline without experience (the baseline
    row with the highest mean test success), paired by seed: the seed-by-seed differences with
    their mean and 95 % t-interval, in points of test success."""
    from rememberer.experiments import interval

    group_of = {r["condition"]: r.get("group", "main") for r in result["rows"]}
    baselines = [row for row in result["table"] if group_of.get(row["condition"]) == "baseline"]
    if not baselines:
        return ""
    best = max(baselines, key=lambda row: (row["success"]["mean"], row["reward"]["mean"]))["condition"]
    by_seed: dict[str, dict[int, tuple[float, float]]] = {}
    for r in result["rows"]:
        by_seed.setdefault(r["condition"], {})[r["seed"]] = (r["test_success"], r["test_reward"])
    lines = [f"**Gain over the strongest baseline without experience ({best}), paired by seed**", "",
             "| condition | seeds | gain, points of test success (mean ± 95 % CI) | seeds with a gain | gain in test reward |",
             "|---|---|---|---|---|"]
    for row in result["table"]:
        name = row["condition"]
        if group_of.get(name) in ("baseline", "p-sweep") or name == best:
            continue
        seeds = sorted(set(by_seed.get(name, {})) & set(by_seed[best]))
        if len(seeds) < 2:
            continue
        diffs = [100 * (by_seed[name][s][0] - by_seed[best][s][0]) for s in seeds]
        stats = interval(diffs)
        reward = interval([by_seed[name][s][1] - by_seed[best][s][1] for s in seeds])
        lines.append(f"| {name} | {len(seeds)} | {stats['mean']:+.1f} ± {stats['ci95']:.1f} | "
                     f"{sum(d > 0 for d in diffs)} of {len(seeds)} | {reward['mean']:+.3f} ± {reward['ci95']:.3f} |")
    return "\n".join(lines) + "\n" if len(lines) > 4 else ""


P_SWEEP_SERIES = (
    ("goal-relative keys, on-tree actions", "#1b4f8a"),
    ("goal-relative keys, MC γ=1", "#5b9bd5"),
    ("fixed exemplars, goal-relative keys, on-tree actions", "#8c8c8c"),
    ("paper: verbatim keys, MC γ=1", "#d98c3a"),
)
"""The designs drawn against p: each is its condition at the top p and ``<name>, p=X`` below it."""


def speed(result: dict[str, Any]) -> str:
    """The test phase's cost per condition, summed over seeds (rows that recorded it: model runs
    from the version that added it): decisions, decisions per second of model time, prompt
    tokens per decision, and the test phase's wall time per seed."""
    timed = [r for r in result["rows"] if r.get("test_time") and r["test_time"]["decisions"]]
    if not timed:
        return ""
    lines = ["**Speed of the test phase (the model's time; summed over seeds)**", "",
             "| condition | seeds | decisions | decisions per second | prompt tokens per decision | test phase per seed, min |",
             "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["condition"] for r in timed):
        mine = [r["test_time"] for r in timed if r["condition"] == name]
        decisions = sum(t["decisions"] for t in mine)
        model_s = sum(t["model_seconds"] for t in mine)
        walls = [t["wall_seconds"] for t in mine if t.get("wall_seconds")]
        rate = f"{decisions / model_s:.2f}" if model_s else "–"
        wall = f"{sum(walls) / len(walls) / 60:.1f}" if walls else "–"
        lines.append(f"| {name} | {len(mine)} | {decisions} | {rate} | {sum(t['prompt_tokens'] for t in mine) / decisions:.0f} | {wall} |")
    return "\n".join([*lines, ""])


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _baselines(ax: Any, rows: list[dict[str, Any]], group_of: dict[str, str]) -> None:
    """The no-memory baselines as dashed, labelled lines."""
    for r in rows:
        if group_of.get(r["condition"]) == "baseline" and r["condition"].startswith("no memory"):
            ax.axhline(100 * r["success"]["mean"], linestyle="--", color="#777777", linewidth=1)
            ax.annotate(r["condition"], (0.02, 100 * r["success"]["mean"] + 1), xycoords=("axes fraction", "data"), fontsize=8)


def _plots(result: dict[str, Any], directory: Path, stem: str) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, str]] = []
    rows = result["table"]
    group_of = {r["condition"]: r.get("group", "main") for r in result["rows"]}

    main = [r for r in rows if group_of.get(r["condition"]) not in ("p-sweep", "curve", "epochs")]
    dense = any("test_failures" in r for r in result["rows"])  # dense rewards (ScienceWorld): plot the mean score
    if main:
        fig, ax = plt.subplots(figsize=(10, 0.42 * len(main) + 1.2))
        names = [r["condition"] for r in main][::-1]
        measure = "reward" if dense else "success"
        means = [100 * r[measure]["mean"] for r in main][::-1]
        errors = [100 * (r[measure]["ci95"] if r[measure]["n"] > 1 else 0) for r in main][::-1]
        colors = [{"baseline": "#999999", "paper": "#d98c3a", "ablation": "#8fb3d9"}.get(group_of.get(n), "#2f6fb0") for n in names]
        ax.barh(names, means, xerr=errors, color=colors, capsize=3)
        if dense:
            ax.axvline(0, color="#333333", linewidth=0.8)
            ax.set_xlabel("mean test score on unseen variations (−100 to 100; mean, 95 % interval over seeds)")
            ax.set_xlim(-100, 100)
        else:
            ax.set_xlabel("test success on unseen goals, % (mean, 95 % interval over seeds)")
            ax.set_xlim(0, 100)
        ax.grid(axis="x", alpha=0.3)
        name = f"{stem}-conditions.png"
        _save(fig, directory / name)
        made.append((name, ("Mean test score by condition" if dense else "Test success by condition")
                     + " (grey: no experience; orange: the paper's configuration; dark blue: the design; light blue: ablations)"))

    def series(pick) -> list[tuple[float, dict[str, Any]]]:
        return sorted((x, r) for r in rows if (x := pick(r)) is not None)

    top = max((r.get("p", 0.0) for r in result["rows"]), default=1.0) or 1.0

    def p_of(name: str, base: str) -> float | None:
        if name == base:
            return top
        if name.startswith(base + ", p="):
            return float(name.removeprefix(base + ", p="))
        return None

    swept = [(base, series(lambda r, base=base: p_of(r["condition"], base)), color) for base, color in P_SWEEP_SERIES]
    if any(len(points) > 1 for _, points, _ in swept):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for label, points, color in swept:
            if len(points) > 1:
                ax.errorbar([x for x, _ in points], [100 * r["success"]["mean"] for _, r in points],
                            yerr=[100 * r["success"]["ci95"] if r["success"]["n"] > 1 else 0 for _, r in points], marker="o",
                            capsize=3, label=label, color=color)
        _baselines(ax, rows, group_of)
        ax.set_xlabel("p: probability of following the top advice")
        ax.set_ylabel("test success, %")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        name = f"{stem}-p-sweep.png"
        _save(fig, directory / name)
        made.append((name, "Test success against p (the controlled policy), with the no-memory baselines dashed"))

    goals_of = {r["condition"]: r.get("train_goals") for r in result["rows"]}
    curve = series(lambda r: goals_of.get(r["condition"]) if group_of.get(r["condition"]) == "curve" else None)
    if len(curve) > 1:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.errorbar([x for x, _ in curve], [100 * r["success"]["mean"] for _, r in curve],
                    yerr=[100 * r["success"]["ci95"] if r["success"]["n"] > 1 else 0 for _, r in curve], marker="o", capsize=3,
                    color="#2f6fb0")
        ax.set_xscale("log")
        ax.set_xticks([x for x, _ in curve], [str(int(x)) for x, _ in curve])
        ax.set_xlabel("training goals (train_pool), 3 epochs")
        ax.set_ylabel("test success on 100 unseen goals, %")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        name = f"{stem}-training-goals.png"
        _save(fig, directory / name)
        made.append((name, "Test success against the number of training goals"))

    epochs_of = {r["condition"]: r.get("epochs") for r in result["rows"]}
    on_curve = ("goal-relative keys, MC γ=1", "fixed exemplars, goal-relative keys")  # epochs 3 and 0
    by_epoch = series(lambda r: epochs_of.get(r["condition"])
                      if group_of.get(r["condition"]) == "epochs" or r["condition"] in on_curve else None)
    if len(by_epoch) > 1 and not (dense and not any(group_of.get(r["condition"]) == "epochs" for r in rows)):
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [x for x, _ in by_epoch]
        ax.errorbar(xs, [100 * r["success"]["mean"] for _, r in by_epoch],
                    yerr=[100 * r["success"]["ci95"] if r["success"]["n"] > 1 else 0 for _, r in by_epoch], marker="o",
                    capsize=3, color="#2f6fb0", label="unseen test goals (memory frozen)")
        trained = [(x, r) for x, r in by_epoch if r["train_solved"]["n"]]
        if trained:
            ax.errorbar([x for x, _ in trained], [100 * r["train_solved"]["mean"] for _, r in trained],
                        yerr=[100 * r["train_solved"]["ci95"] if r["train_solved"]["n"] > 1 else 0 for _, r in trained],
                        marker="s", capsize=3, color="#d98c3a", label="training goals solved so far")
        _baselines(ax, rows, group_of)
        ax.set_xticks(xs, [str(int(x)) for x in xs])
        ax.set_xlabel("training epochs before the test (0 = the initial pool only)")
        ax.set_ylabel("success, %")
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8, loc="lower right")
        ax.grid(alpha=0.3)
        name = f"{stem}-epochs.png"
        _save(fig, directory / name)
        made.append((name, "Learning curve: test success on unseen goals after each training epoch, and training goals "
                           "solved so far, with the no-memory baselines dashed"))
    return made


def _code_versions(result: dict[str, Any]) -> str:
    """The grid's code version, and those of runs it reused from earlier invocations (each run's
    ``config.json`` records its own)."""
    grid = result["code_version"]
    counts: dict[str, int] = {}
    for row in result["rows"]:
        version = row.get("code_version")
        if version and version != grid:
            counts[version] = counts.get(version, 0) + 1
    if not counts:
        return grid
    reused = ", ".join(f"`{v}` ({n} run{'s' if n > 1 else ''})" for v, n in sorted(counts.items()))
    return f"{grid} (runs reused from earlier invocations of the grid: {reused})"


SCIENCEWORLD_INTRO = (
    "ScienceWorld, variation transfer: the memory is trained on variations of the four transfer task types "
    "(`train_transfer`) and tested on variations it never saw (`test_transfer`), with the simulator's valid-action list "
    "offered in full. The actor is the controlled policy (`scripted:p=P,seed=S`): the top advised valid action with "
    "probability P, otherwise a random valid action; `no memory` is the same policy without experience (a random valid "
    "action each step). Rewards are dense: test reward is the mean final score / 100 (partial progress counts; a wrong "
    "`focus on` ends the episode at −1.0), success is a score of 100.")


def section(result: dict[str, Any], doc: Path, index: int) -> str:
    args = result.get("args")
    command = ("python -m rememberer.experiments " + shlex.join(args["argv"])) if args and args.get("argv") else "(command not recorded)"
    model = result.get("model") or "scripted:p=P (controlled policy)"  # older outputs did not record it
    stem = f"{result['task']}-{'controlled' if model.startswith('scripted') else 'model'}-{index}"
    plots = _plots(result, doc.parent / doc.stem, stem)
    intro = (SCIENCEWORLD_INTRO if result["task"] == "scienceworld" and model.startswith("scripted") else
             "The actor is the controlled policy (`scripted:p=P,seed=S`): the top advised valid action with probability P, "
             "otherwise a random valid action. At P = 1 test success is what the memory's advice alone is worth on goals it "
             "never practised. `no memory` is the same policy without experience; `no memory, on-tree actions` is the best "
             "policy without experience that knows what the goal-relative keys know (it is offered only the actions those "
             "keys call relevant: on the goal's recipe tree in TextCraft; in WebShop no detail tabs, no going back and only "
             "the options the instruction names)."
             if model.startswith("scripted") else
             f"The actor is the model `{model}` in every condition (rank decoding); `no memory` is the model alone.")
    lines = [
        f"## {result['task']}: {model}",
        "",
        intro,
        "",
        "```bash",
        command,
        "```",
        "",
        f"Memory trained on {result['train_goals']} training goals × {result['epochs']} epochs (unless the condition says "
        f"otherwise), then {result['test_goals']} unseen test goals with the memory frozen; step cap {result['max_steps']}; "
        f"seeds {', '.join(map(str, result['seeds']))}; code {_code_versions(result)}; "
        + ("" if result.get("complete", True) else "**the grid was stopped before it finished: only the conditions and seeds "
           "listed ran**; ")
        + f"{result.get('machine', 'machine not recorded')}. Per-seed rows, run ids and settings: `{result['source']}`"
        + (f"; run directories (config, episodes, trajectories): `{result['out_dir']}/runs/<run id>/`"
           + ("" if result["source"].startswith(result["out_dir"]) else " on the machine that ran them")
           if result.get("out_dir") else "") + ".",
        "",
        table(result),
        paired(result),
        *([cost] if (cost := speed(result)) else []),
    ]
    for name, caption in plots:
        lines += [f"![{caption}]({doc.stem}/{name})", "", f"*{caption}.*", ""]
    return "\n".join(lines)


def write(out_dirs: list[str], doc: str | Path) -> Path:
    doc = Path(doc)
    results = [load(d) for d in out_dirs]
    command = "python -m rememberer.experiments doc " + " ".join(map(shlex.quote, out_dirs)) + f" --doc {doc}"
    parts = [
        "# Results",
        "",
        "Generated from the experiment outputs by one command; do not edit by hand:",
        "",
        "```bash",
        command,
        "```",
        "",
    ]
    parts += [section(result, doc, i) for i, result in enumerate(results, start=1)]
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(parts), encoding="utf-8")
    return doc
