"""Speed of the embedded model on this machine: prompt processing, generation, rank decisions.

    python benchmarks/local_model.py [--threads 1 2] [--extra-buffers auto 0] [--out FILE]

For every thread count × extra-buffer setting it loads Gemma-3-270M the way the product does
(llama.cpp parameters of the worker process), then measures

* prompt processing (tokens/s) on a fresh ~1,500-token TextCraft prompt,
* generation (tokens/s) of 32 tokens,
* one ``rank`` decision through the product's worker (:class:`LocalLlama.score_actions`):
  the valid actions of a TextCraft state scored in one batched pass, with the prompt cold and
  with the prompt already cached (consecutive decisions share the preamble and exemplars).

It prints the llama.cpp build's CPU features and the machine's load: llama.cpp's threads
spin-wait, so numbers taken while other work runs differ a lot. Nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path


def _prompt_and_actions() -> tuple[str, list[str]]:
    import rememberer.graph  # noqa: F401  (imports the nodes in their order)
    from rememberer.nodes.prompting import render_input_block, render_prompt
    from rememberer.tasks import load_task_set

    tasks = load_task_set("textcraft")
    env = tasks.make_env()
    first = env.reset(tasks.goals("test")[0])
    block = render_input_block(task=first.task, observation=first.observation, history=[], history_length=5,
                               context=first.context, valid_actions=first.valid_actions)
    # two exemplars' worth of text, as a typical decision with memory has
    other = env.reset(tasks.goals("test")[1])
    exemplar = render_input_block(task=other.task, observation=other.observation, history=[], history_length=5,
                                  context=other.context, valid_actions=other.valid_actions)
    prompt = render_prompt(tasks.preamble, [f"Example 1:\n\n{exemplar}\n\nEncouraged:\n{first.valid_actions[0]} -> 0.5"] * 2, block)
    return prompt, list(first.valid_actions)


def _raw_speeds(model_path: str, threads: int, extra: bool, prompt: str) -> dict:
    import llama_cpp
    import llama_cpp.llama_cpp as low

    default = low.llama_model_default_params

    def params():
        p = default()
        p.use_extra_bufts = extra
        return p

    low.llama_model_default_params = params
    try:
        started = time.perf_counter()
        llm = llama_cpp.Llama(model_path=model_path, n_ctx=4096, n_batch=512, n_threads=threads, n_threads_batch=threads, verbose=False)
        load = time.perf_counter() - started
    finally:
        low.llama_model_default_params = default
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True)
    pp = []
    for _ in range(3):
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        pp.append(len(tokens) / (time.perf_counter() - started))
    llm.reset()
    started = time.perf_counter()
    out = llm.create_completion("Once upon a time", max_tokens=32, temperature=0.0)
    generated = out["usage"]["completion_tokens"]
    # create_completion also evaluates the 5-token prompt; negligible next to 32 decode steps
    tg = generated / (time.perf_counter() - started)
    return {"load_s": round(load, 2), "prompt_tokens": len(tokens), "pp_tok_s": round(statistics.median(pp), 1),
            "tg_tok_s": round(tg, 1)}


def _decisions(threads: int, prompt: str, actions: list[str], repeats: int) -> dict:
    from rememberer.nodes.models import load_model

    os.environ["REMEMBERER_LLAMA_THREADS"] = str(threads)
    model = load_model("local")
    try:
        info = model.info()
        cold, warm = [], []
        for i in range(repeats):
            # a different first line defeats the prefix cache: the whole prompt is evaluated
            started = time.perf_counter()
            model.score_actions(f"[{i}]\n{prompt}", actions)
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            model.score_actions(f"[{i}]\n{prompt}", actions)
            warm.append(time.perf_counter() - started)
    finally:
        model.close()
        os.environ.pop("REMEMBERER_LLAMA_THREADS", None)
    return {"actions": len(actions), "decision_cold_s": round(statistics.median(cold), 3),
            "decision_warm_s": round(statistics.median(warm), 3), "system_info": info["system_info"]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--extra-buffers", nargs="+", default=["1", "0"], help="1: weight repacking on; 0: off")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="", help="a name for this build, kept in the JSON")
    parser.add_argument("--out", default="benchmarks/results/local_model.json")
    args = parser.parse_args(argv)
    from rememberer.nodes.local_llm import cpu_summary
    from rememberer.nodes.models import default_gguf_path

    prompt, actions = _prompt_and_actions()
    path = str(default_gguf_path())
    rows = []
    for threads in dict.fromkeys(args.threads):
        for extra in args.extra_buffers:
            load_before = os.getloadavg()[0]
            row = {"threads": threads, "extra_buffers": extra == "1", **_raw_speeds(path, threads, extra == "1", prompt)}
            if extra == "1":  # the product's default where the build has no AMX
                row.update(_decisions(threads, prompt, actions, args.repeats))
            row["load_avg_1m_before"] = round(load_before, 2)
            rows.append(row)
    results = {"label": args.label, "cpu": cpu_summary(), "python": platform.python_version(), "rows": rows}
    print(f"{cpu_summary()} · build: {rows[0].get('system_info', '')}")
    print(f"{'threads':>7} {'repack':>6} {'pp tok/s':>9} {'tg tok/s':>9} {'decision cold':>14} {'decision warm':>14} {'load 1m':>8}")
    for r in rows:
        cold = f"{r['decision_cold_s']} s" if "decision_cold_s" in r else "-"
        warm = f"{r['decision_warm_s']} s" if "decision_warm_s" in r else "-"
        print(f"{r['threads']:>7} {str(r['extra_buffers']):>6} {r['pp_tok_s']:>9} {r['tg_tok_s']:>9} {cold:>14} {warm:>14} "
              f"{r['load_avg_1m_before']:>8}")
    print(f"prompt: {rows[0]['prompt_tokens']} tokens; rank decision: {len(actions)} valid actions scored in one batched pass")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"results written to {out}")
    return results


if __name__ == "__main__":
    main()
