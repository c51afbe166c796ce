"""The embedded llama.cpp model, run in a worker process of its own.

Why a separate process: llama.cpp is native code. A build that does not suit the CPU it runs
on (a wheel compiled with ``-march=native`` on another machine, or the AMX weight-repacking
path that crashed on some Intel Xeon machines) dies with SIGSEGV or SIGILL, and in-process that
kills pytest, the CLI or a ``langgraph dev`` server without a word. In a worker the crash is a
:class:`LocalModelCrashedError` in the caller, naming the model, the signal, the CPU and what
to try; the run stops cleanly and keeps every finished episode. The worker also serialises
calls (one llama.cpp context is not thread-safe), bounds each call with a timeout, and starts
lazily and again after a crash.

The parent side, :class:`LocalLlama`, is a LangChain ``LLM`` (``invoke``, ``batch``, callbacks)
with three extra methods the nodes use: :meth:`LocalLlama.count_tokens` (the model's own
tokenizer, for the exemplar budget), :meth:`LocalLlama.score_actions` (``rank`` decoding: the
log-probability of every valid action after the prompt, in one batched pass) and
:meth:`LocalLlama.info` (build features, threads, timings).

Safety checks in the worker before the model is loaded (see the README, "Embedded model"):

* the CPU features the llama.cpp library was compiled for are compared with the CPU's own
  (``/proc/cpuinfo``); a build that needs an instruction the CPU lacks is refused with the
  command that rebuilds it portably, instead of dying with SIGILL later;
* a build with AMX compiled in loads the model without llama.cpp's extra buffer types (the
  weight-repacking path where the AMX crash happened) unless ``REMEMBERER_LLAMA_EXTRA_BUFFERS=1``.

Environment knobs: ``REMEMBERER_LLAMA_THREADS`` (a number, or ``auto``: time 1 and all cores on
a short prompt at start and keep the faster; the default), ``REMEMBERER_LLAMA_EXTRA_BUFFERS``
(``auto``/``0``/``1``), ``REMEMBERER_LLAMA_TIMEOUT`` (seconds per call, default 300).
``REMEMBERER_LLAMA_FAULT`` is a fault-injection hook for tests (``load`` or ``call:N``: the
worker kills itself with SIGSEGV at load, or at its N-th decision request — a completion or
an action scoring).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from multiprocessing.connection import Connection

from langchain_core.language_models.llms import LLM
from pydantic import ConfigDict, PrivateAttr

from .models import ModelUnavailableError

# llama.cpp's compile-time feature names → the /proc/cpuinfo flag each one needs.
FEATURE_FLAGS = {
    "SSE3": "pni",
    "SSSE3": "ssse3",
    "AVX": "avx",
    "AVX_VNNI": "avx_vnni",
    "AVX2": "avx2",
    "F16C": "f16c",
    "FMA": "fma",
    "BMI2": "bmi2",
    "AVX512": "avx512f",
    "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni",
    "AVX512_BF16": "avx512_bf16",
    "AMX_INT8": "amx_int8",
}

PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
REBUILD_HINT = (
    f'rebuild llama.cpp portably: pip cache remove llama_cpp_python; CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" '
    "pip install --force-reinstall --no-deps --no-cache-dir llama-cpp-python"
)


class LocalModelCrashedError(ModelUnavailableError):
    """The llama.cpp worker process died (native crash) or could not start."""


class LocalModelTimeoutError(ModelUnavailableError):
    """A call to the embedded model took longer than its timeout; the worker was stopped."""


class IncompatibleBuildError(ModelUnavailableError):
    """The installed llama.cpp library was compiled for CPU features this machine lacks."""


# ---------------------------------------------------------------------------- CPU facts
def cpu_flags() -> set[str]:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``); empty where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_summary() -> str:
    flags = cpu_flags()
    notable = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_int8") if f in flags]
    return f"{cpu_name()} ({os.cpu_count()} cores; {' '.join(notable) or 'no AVX2'})"


def compiled_features(system_info: str) -> dict[str, bool]:
    """Parse llama.cpp's ``llama_print_system_info()`` (``CPU : AVX2 = 1 | ...``) into flags."""
    features: dict[str, bool] = {}
    for part in system_info.replace("\n", "|").split("|"):
        name, sep, value = part.partition("=")
        if not sep:
            continue
        name = name.split(":")[-1].strip()
        if name:
            features[name] = value.strip() == "1"
    return features


def missing_features(compiled: dict[str, bool], flags: set[str]) -> list[str]:
    """Compiled-in features whose CPU flag is absent (empty when ``flags`` is unknown)."""
    if not flags:
        return []
    return [name for name, on in compiled.items() if on and name in FEATURE_FLAGS and FEATURE_FLAGS[name] not in flags]


def use_extra_buffers(compiled: dict[str, bool], setting: str) -> bool:
    """Whether to load with llama.cpp's extra buffer types (weight repacking, AMX)."""
    if setting in ("0", "false", "off", "no"):
        return False
    if setting in ("1", "true", "on", "yes"):
        return True
    return not compiled.get("AMX_INT8", False)


# ---------------------------------------------------------------------------- the worker
def _maybe_fault(stage: str, count: int = 0) -> None:
    fault = os.environ.get("REMEMBERER_LLAMA_FAULT", "")
    if fault == "load" and stage == "load":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault.startswith("call:") and stage == "call" and count >= int(fault[5:] or 1):
        os.kill(os.getpid(), signal.SIGSEGV)


class _Engine:
    """What the worker process holds: one ``llama_cpp.Llama`` and the scoring logic."""

    def __init__(self, config: dict[str, Any]):
        import llama_cpp
        import llama_cpp.llama_cpp as low

        self.low = low
        info = llama_cpp.llama_print_system_info()
        self.system_info = info.decode("utf-8", "replace") if isinstance(info, bytes) else str(info)
        compiled = compiled_features(self.system_info)
        missing = missing_features(compiled, cpu_flags())
        if missing:
            raise IncompatibleBuildError(
                f"the installed llama.cpp was compiled for CPU features this CPU lacks ({', '.join(missing)}; "
                f"CPU: {cpu_summary()}): {REBUILD_HINT}"
            )
        self.extra_buffers = use_extra_buffers(compiled, os.environ.get("REMEMBERER_LLAMA_EXTRA_BUFFERS", "auto").lower())
        _silence(llama_cpp)
        self.max_seqs = int(config.get("max_sequences", 32))
        default_model = low.llama_model_default_params
        default_context = low.llama_context_default_params
        extra = self.extra_buffers
        seqs = self.max_seqs

        def model_params():
            params = default_model()
            if hasattr(params, "use_extra_bufts"):
                params.use_extra_bufts = extra
            return params

        def context_params():
            params = default_context()
            params.n_seq_max = seqs  # rank decoding scores every action as its own sequence
            if hasattr(params, "kv_unified"):
                params.kv_unified = True  # sequences share the prompt's cells
            if hasattr(params, "swa_full"):
                params.swa_full = True  # sliding-window layers keep every cell, so a cached prefix stays reusable
            return params

        threads = int(config["n_threads"]) if config.get("n_threads") else (os.cpu_count() or 1)
        started = time.perf_counter()
        low.llama_model_default_params, low.llama_context_default_params = model_params, context_params
        try:
            self.llm = llama_cpp.Llama(
                model_path=config["model_path"],
                n_ctx=int(config.get("n_ctx", 4096)),
                n_batch=512,
                n_threads=threads,
                n_threads_batch=threads,
                seed=int(config.get("seed", 0)),
                verbose=False,
            )
        finally:
            low.llama_model_default_params, low.llama_context_default_params = default_model, default_context
        self.load_seconds = time.perf_counter() - started
        self.threads = threads
        self.thread_timings: dict[int, float] = {}
        if not config.get("n_threads"):
            self._pick_threads()
        self._grammars: dict[str, Any] = {}

    # -- threads ------------------------------------------------------------------------
    def _set_threads(self, n: int) -> None:
        self.low.llama_set_n_threads(self.llm._ctx.ctx, n, n)
        self.threads = n

    def _pick_threads(self) -> None:
        """Time one short prompt with 1 thread and with every core; keep the faster.

        llama.cpp's threads spin-wait on each other: on a machine whose other cores are busy,
        more threads can be several times slower than one.
        """
        cores = os.cpu_count() or 1
        if cores == 1:
            return
        tokens = self.llm.tokenize(b"Goal: craft a wooden pickaxe. Inventory: empty. " * 8, add_bos=True)
        for n in (cores, 1, cores):  # the first run warms caches; keep the second timing of `cores`
            self._set_threads(n)
            self.llm.reset()
            started = time.perf_counter()
            self.llm.eval(tokens)
            self.thread_timings[n] = round(time.perf_counter() - started, 4)
        self.llm.reset()
        self._set_threads(min(self.thread_timings, key=self.thread_timings.get))

    # -- requests -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        compiled = compiled_features(self.system_info)
        return {
            "system_info": self.system_info.strip(),
            "compiled": sorted(k for k, v in compiled.items() if v),
            "extra_buffers": self.extra_buffers,
            "threads": self.threads,
            "thread_timings": self.thread_timings,
            "load_seconds": round(self.load_seconds, 3),
            "cpu": cpu_summary(),
            "n_ctx": self.llm.n_ctx(),
        }

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def complete(self, prompt: str, *, grammar: str | None, stop: list[str] | None, max_tokens: int, temperature: float, seed: int | None) -> str:
        from llama_cpp import LlamaGrammar

        compiled = None
        if grammar:
            compiled = self._grammars.get(grammar)
            if compiled is None:
                compiled = LlamaGrammar.from_string(grammar, verbose=False)
                if len(self._grammars) > 256:
                    self._grammars.clear()
                self._grammars[grammar] = compiled
        out = self.llm.create_completion(
            prompt, max_tokens=max_tokens, temperature=temperature, stop=stop or None, grammar=compiled, seed=seed
        )
        return out["choices"][0]["text"]

    def score_actions(self, prompt: str, actions: Sequence[str], suffix: str) -> dict[str, Any]:
        from .batch_scoring import score_continuations

        started = time.perf_counter()
        scores = score_continuations(self.llm, self.low, prompt, [f"{a}{suffix}" for a in actions], self.max_seqs)
        return {"logprobs": dict(zip(actions, scores)), "seconds": time.perf_counter() - started}


def _silence(llama_cpp) -> None:
    """Route llama.cpp's C-level log lines to nowhere (kept referenced for the process's life)."""

    @llama_cpp.llama_log_callback
    def _ignore(level, text, user_data):  # pragma: no cover - called from C
        return None

    global _LOG_CALLBACK
    _LOG_CALLBACK = _ignore
    llama_cpp.llama_log_set(_LOG_CALLBACK, None)


_LOG_CALLBACK = None


def _serve(conn, config: dict[str, Any]) -> None:  # pragma: no cover - runs in the worker process
    """Worker main loop: load, report ready (or the error), then answer requests until EOF."""
    import faulthandler

    faulthandler.enable()  # a native crash leaves the Python stack in the worker's log
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    _maybe_fault("load")
    try:
        engine = _Engine(config)
    except Exception as exc:
        conn.send(("error", type(exc).__name__, str(exc)))
        return
    conn.send(("ok", engine.info()))
    handled = 0
    while True:
        try:
            method, kwargs = conn.recv()
        except (EOFError, OSError):
            return
        if method in ("complete", "score_actions"):
            handled += 1
            _maybe_fault("call", handled)
        try:
            conn.send(("ok", getattr(engine, method)(**kwargs)))
        except Exception as exc:
            conn.send(("error", type(exc).__name__, str(exc)))


# ---------------------------------------------------------------------------- the parent side
def _signal_name(exitcode: int | None) -> str:
    if exitcode is None:
        return "no exit code"
    if exitcode < 0:
        try:
            return signal.Signals(-exitcode).name
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


class _Worker:
    """One worker process and its pipe; every call holds the lock."""

    def __init__(self, config: dict[str, Any], timeout: float, label: str):
        self.config, self.timeout, self.label = config, timeout, label
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.info: dict[str, Any] = {}
        self.log_tail = ""
        """The end of the last worker's stderr (a Python stack from faulthandler after a crash)."""

    def _crash(self, during: str) -> LocalModelCrashedError:
        code = None
        if self.process is not None:
            try:
                code = self.process.wait(2)
            except subprocess.TimeoutExpired:
                code = None
        name = _signal_name(code)
        self.stop()
        if name == "SIGILL":
            hint = f"the llama.cpp build uses instructions this CPU lacks; {REBUILD_HINT}"
        else:
            hint = (
                "try REMEMBERER_LLAMA_EXTRA_BUFFERS=0 (no weight repacking), or "
                f"{REBUILD_HINT}; an endpoint model (--model openai:...) avoids llama.cpp altogether"
            )
        return LocalModelCrashedError(
            f"the embedded model {self.label} crashed ({name}) {during}, on CPU {cpu_summary()}; {hint}"
        )

    def start(self) -> None:
        # A fresh interpreter (``python -m``), not multiprocessing: nothing of the caller's
        # ``__main__`` is re-imported, so scripts without a ``__main__`` guard work too.
        parent, child = socket.socketpair()
        self._log = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "rememberer.nodes.local_llm", str(child.fileno()), json.dumps(self.config)],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
                start_new_session=True,  # Ctrl-C in a terminal goes to the caller, which stops the worker
            )
        except OSError as exc:
            parent.close()
            raise LocalModelCrashedError(f"cannot start the embedded model's worker process: {exc}") from None
        finally:
            child.close()
        self.conn = Connection(parent.detach())
        reply = self._receive(during="while loading", timeout=max(self.timeout, 120.0))
        self.info = reply

    def _receive(self, *, during: str, timeout: float) -> Any:
        assert self.conn is not None and self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stop()
                raise LocalModelTimeoutError(
                    f"the embedded model {self.label} did not answer within {timeout:.0f} s {during}; "
                    "the worker was stopped (raise REMEMBERER_LLAMA_TIMEOUT for very long prompts)"
                )
            try:
                ready = self.conn.poll(min(remaining, 0.5))
            except (EOFError, OSError):
                raise self._crash(during) from None
            if ready:
                try:
                    status, *payload = self.conn.recv()
                except (EOFError, OSError):
                    raise self._crash(during) from None
                break
            if self.process.poll() is not None:
                raise self._crash(during)
        if status == "ok":
            return payload[0]
        kind, message = payload
        if kind in ("IncompatibleBuildError", "ModelUnavailableError"):
            self.stop()
            raise IncompatibleBuildError(message) if kind == "IncompatibleBuildError" else ModelUnavailableError(message)
        if during == "while loading":
            self.stop()
            raise ModelUnavailableError(f"the embedded model {self.label} failed to load: {kind}: {message}")
        raise RuntimeError(f"{kind}: {message}")

    def call(self, method: str, **kwargs: Any) -> Any:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.start()
            try:
                self.conn.send((method, kwargs))
            except (BrokenPipeError, OSError):
                raise self._crash(f"before {method}") from None
            return self._receive(during=f"during {method}", timeout=self.timeout)

    def stop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(5)
        log = getattr(self, "_log", None)
        if log is not None:
            try:
                log.seek(0)
                self.log_tail = log.read()[-4000:].decode("utf-8", "replace")
                log.close()
            except (OSError, ValueError):
                pass
            self._log = None
        self.process, self.conn = None, None


class LocalLlama(LLM):
    """A GGUF model on llama.cpp, served by a worker process (see the module docstring)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_path: str
    n_ctx: int = 4096
    n_threads: int | None = None
    """None: REMEMBERER_LLAMA_THREADS, else ``auto`` (the faster of 1 and all cores, timed at start)."""
    temperature: float = 0.0
    max_tokens: int = 96
    seed: int = 0
    timeout: float = 300.0
    max_sequences: int = 32
    """Actions scored in one batched pass by :meth:`score_actions`."""

    _worker: _Worker | None = PrivateAttr(default=None)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "temperature": self.temperature, "max_tokens": self.max_tokens}

    @property
    def label(self) -> str:
        return f"llama.cpp:{Path(self.model_path).name}"

    def _ensure(self) -> _Worker:
        if self._worker is None:
            threads = self.n_threads
            setting = os.environ.get("REMEMBERER_LLAMA_THREADS", "auto").strip().lower()
            if threads is None and setting not in ("", "auto"):
                try:
                    threads = max(1, int(setting))
                except ValueError:
                    raise ModelUnavailableError(f"REMEMBERER_LLAMA_THREADS must be a number or 'auto', got {setting!r}") from None
            timeout = float(os.environ.get("REMEMBERER_LLAMA_TIMEOUT", self.timeout))
            config = {"model_path": self.model_path, "n_ctx": self.n_ctx, "n_threads": threads, "seed": self.seed,
                      "max_sequences": self.max_sequences}
            self._worker = _Worker(config, timeout, self.label)
        return self._worker

    # -- LangChain ------------------------------------------------------------------------
    def _call(self, prompt: str, stop: list[str] | None = None, run_manager=None, **kwargs: Any) -> str:
        grammar = kwargs.get("grammar")
        if grammar is not None and not isinstance(grammar, str):
            raise TypeError("LocalLlama takes the grammar as GBNF text")
        return self._ensure().call(
            "complete",
            prompt=prompt,
            grammar=grammar,
            stop=list(stop) if stop else None,
            max_tokens=int(kwargs.get("max_tokens", self.max_tokens)),
            temperature=float(kwargs.get("temperature", self.temperature)),
            seed=kwargs.get("seed", self.seed),
        )

    # -- extras the nodes use ----------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Start the worker now (load and probe the model); returns :meth:`info`."""
        return self.info()

    def info(self) -> dict[str, Any]:
        worker = self._ensure()
        with worker.lock:
            if worker.process is None or worker.process.poll() is not None:
                worker.start()
        return dict(worker.info)

    def count_tokens(self, text: str) -> int:
        return int(self._ensure().call("count_tokens", text=text))

    def score_actions(self, prompt: str, actions: Sequence[str], suffix: str = " ->") -> dict[str, float]:
        """Mean log-probability per token of each ``action + suffix`` as the continuation of ``prompt``.

        Raises ValueError when the prompt leaves no room in the context window.
        """
        if not actions:
            return {}
        try:
            reply = self._ensure().call("score_actions", prompt=prompt, actions=list(actions), suffix=suffix)
        except RuntimeError as exc:
            if str(exc).startswith("ValueError"):
                raise ValueError(str(exc)) from None
            raise
        return reply["logprobs"]

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass


if __name__ == "__main__":  # pragma: no cover - the worker process
    _serve(Connection(int(sys.argv[1])), json.loads(sys.argv[2]))
