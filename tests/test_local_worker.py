"""The embedded model's worker process: build checks, crash isolation and clear errors.

The pure checks and the crash-at-load path run everywhere (no llama.cpp needed: the injected
fault fires before the library is imported); the rest loads the real model (``local_model``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from rememberer.nodes.local_llm import (
    LocalLlama,
    LocalModelCrashedError,
    compiled_features,
    cpu_flags,
    cpu_name,
    missing_features,
    use_extra_buffers,
)
from rememberer.nodes.models import ModelUnavailableError

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None

NATIVE_XEON = ("CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | AVX512 = 1 | "
               "AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |")
PORTABLE = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
EPYC_FLAGS = {"pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2", "avx512f", "avx512vbmi", "avx512_vnni", "avx512_bf16"}


def test_build_features_are_read_from_llama_system_info():
    features = compiled_features(NATIVE_XEON)
    assert features["AVX2"] and features["AMX_INT8"] and features["REPACK"]
    assert not compiled_features(PORTABLE).get("AVX512", False)


def test_a_build_for_another_cpu_is_detected_before_it_can_crash():
    # a wheel built natively on a Xeon with AMX, reused from pip's cache on an AMD EPYC
    assert missing_features(compiled_features(NATIVE_XEON), EPYC_FLAGS) == ["AMX_INT8"]
    # the portable build runs on both kinds
    assert missing_features(compiled_features(PORTABLE), EPYC_FLAGS) == []
    assert missing_features(compiled_features(PORTABLE), EPYC_FLAGS | {"amx_tile", "amx_int8"}) == []
    # an AVX2-only CPU cannot run an AVX-512 build
    assert "AVX512" in missing_features(compiled_features(NATIVE_XEON), {"pni", "ssse3", "avx", "avx2", "f16c", "fma", "bmi2"})
    assert missing_features(compiled_features(NATIVE_XEON), set()) == []  # unknown CPU: no verdict


def test_the_amx_repacking_path_is_off_unless_asked_for():
    assert use_extra_buffers(compiled_features(NATIVE_XEON), "auto") is False
    assert use_extra_buffers(compiled_features(PORTABLE), "auto") is True
    assert use_extra_buffers(compiled_features(NATIVE_XEON), "1") is True
    assert use_extra_buffers(compiled_features(PORTABLE), "0") is False


def test_a_crash_while_loading_is_a_clear_error_not_a_dead_process(tmp_path, monkeypatch):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF")
    monkeypatch.setenv("REMEMBERER_LLAMA_FAULT", "load")
    model = LocalLlama(model_path=str(fake))
    with pytest.raises(LocalModelCrashedError) as caught:
        model.invoke("hello")
    message = str(caught.value)
    assert "crashed (SIGSEGV) while loading" in message and "model.gguf" in message
    assert cpu_name() in message and "REMEMBERER_LLAMA_EXTRA_BUFFERS=0" in message
    assert isinstance(caught.value, ModelUnavailableError)  # the runner and the CLI stop on it
    assert "Fatal Python error" in model._worker.log_tail  # faulthandler left the stack in the worker's log
    assert model._worker.process is None  # nothing left running


def test_a_script_without_a_main_guard_can_use_the_model(tmp_path):
    """The worker is a fresh interpreter: the caller's __main__ is not re-imported."""
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"GGUF")
    script = tmp_path / "script.py"
    script.write_text(
        "from rememberer.nodes.local_llm import LocalLlama\n"
        f"m = LocalLlama(model_path={str(fake)!r})\n"
        "try:\n    m.invoke('x')\nexcept Exception as e:\n    print(type(e).__name__)\n"
    )
    env = {**os.environ, "REMEMBERER_LLAMA_FAULT": "load"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env)
    assert out.stdout.strip() == "LocalModelCrashedError", out.stderr[-2000:]


# ------------------------------------------------------------------ with the real model
@pytest.fixture(scope="module")
def model():
    from rememberer.nodes.models import load_model

    llm = load_model("local", max_tokens=8)
    yield llm
    llm.close()


@pytest.mark.local_model
@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs the [local] extra")
def test_the_model_loads_as_the_product_loads_it_and_decodes(model):
    info = model.info()
    assert info["threads"] in (1, os.cpu_count()) and info["load_seconds"] > 0
    assert "AVX2" in info["compiled"]
    assert not missing_features(compiled_features(info["system_info"]), cpu_flags())
    text = model.invoke("Q: What is 2+2?\nA:", stop=["\n"])
    assert isinstance(text, str) and text.strip()
    grammar = 'root ::= "yes" | "no"'
    assert model.invoke("Is water wet? Answer yes or no:", grammar=grammar) in ("yes", "no")
    assert model.count_tokens("Goal: craft oak planks.") > 3


@pytest.mark.local_model
@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs the [local] extra")
def test_batched_action_scores_match_scoring_each_action_alone(model):
    import llama_cpp

    from rememberer.nodes.batch_scoring import score_sequentially

    prompt = ("Goal: craft oak planks.\nInventory: empty\nAvailable Actions:\n- get 1 oak log\n"
              "- craft 4 oak planks using 1 oak log\n\nEncouraged:\n")
    actions = ["get 1 oak log", "craft 4 oak planks using 1 oak log", "get 2 stick", "get 1 oak logs", "wait"]
    batched = model.score_actions(prompt, actions)
    reference_llm = llama_cpp.Llama(model_path=model.model_path, n_ctx=1024, n_threads=1, verbose=False)
    reference = score_sequentially(reference_llm, prompt, [f"{a} ->" for a in actions])
    for action, expected in zip(actions, reference):
        assert batched[action] == pytest.approx(expected, rel=0.03, abs=0.05), action  # batched kernels round differently
    assert max(batched, key=batched.get) == actions[int(max(range(len(actions)), key=reference.__getitem__))]
    # a second call reuses the cached prompt and gives the same numbers
    assert model.score_actions(prompt, actions) == pytest.approx(batched, abs=0.05)
    # more actions than one pass holds are scored in several passes, with the same result per action
    many = actions + [f"get {n} stone" for n in range(1, 40)]
    assert model.score_actions(prompt, many)["get 1 oak log"] == pytest.approx(batched["get 1 oak log"], abs=0.05)


@pytest.mark.local_model
@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs the [local] extra")
def test_a_crash_mid_run_is_a_clear_error_and_the_next_call_restarts_the_worker(monkeypatch):
    from rememberer.nodes.models import load_model

    monkeypatch.setenv("REMEMBERER_LLAMA_FAULT", "call:2")
    llm = load_model("local", max_tokens=4)
    assert llm.invoke("One, two,")  # the first decision works
    with pytest.raises(LocalModelCrashedError, match=r"crashed \(SIGSEGV\) during complete"):
        llm.invoke("One, two,")
    monkeypatch.delenv("REMEMBERER_LLAMA_FAULT")
    assert llm.invoke("One, two,")  # a fresh worker
    llm.close()


@pytest.mark.local_model
@pytest.mark.slow
@pytest.mark.skipif(not HAS_LLAMA, reason="needs the [local] extra")
def test_the_cli_reports_a_model_crash_in_one_line_and_keeps_finished_episodes(tmp_path):
    env = {**os.environ, "REMEMBERER_LLAMA_FAULT": "call:3"}  # in the second episode: the step cap is 2
    cmd = [sys.executable, "-m", "rememberer.cli", "train", "--task", "chain", "--train-goals", "3", "--epochs", "1",
           "--max-steps", "2", "--memory-dir", str(tmp_path / "memory"), "--runs-dir", str(tmp_path / "runs"), "--run-name", "crash"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert out.returncode == 2, out.stderr[-3000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("rememberer: error: the embedded model llama.cpp:") and "SIGSEGV" in last
    assert "Traceback" not in out.stderr
    episodes = (tmp_path / "runs" / "crash" / "episodes.jsonl").read_text().splitlines()
    assert [json.loads(line)["goal_id"] for line in episodes] == ["corridor-3"]
