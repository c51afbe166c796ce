"""HTML reports of a run and of a memory, checked in a real headless Chromium when present."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from rememberer.fakes import AdviceFollowingModel
from rememberer.report import memory_report, run_report
from rememberer.runner import Run, RunSettings
from rememberer.tasks import load_task_set


@pytest.fixture
def finished_run(tmp_path, memory_factory):
    corridor = load_task_set("chain")
    memory = memory_factory(path=tmp_path / "memory", namespace="chain", observation_similarity=corridor.observation_similarity)
    settings = RunSettings(task_set="chain", memory_dir=str(tmp_path / "memory"), runs_dir=str(tmp_path / "runs"), max_steps=12, run_name="r1")
    run = Run(settings, model=AdviceFollowingModel(default="move right"), memory=memory)
    run.train(["corridor-3", "corridor-4", "corridor-5"], epochs=2)
    run.evaluate(["corridor-6", "corridor-7"])
    run.context.use_memory = False
    run.evaluate(["corridor-6", "corridor-7"], phase="baseline")
    run.summary(1.0)
    return run


def test_run_report_is_self_contained(finished_run):
    page = run_report(finished_run.directory, memory=finished_run.memory).read_text()
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    assert page.count('src="data:image/png;base64,') == 2  # learning curve, Q values
    assert page.index(">train epoch 1") < page.index(">eval<") < page.index(">baseline<")
    assert len(re.findall(r'<details class="record"', page)) == len(finished_run.memory) == 9
    assert page.count("<span class=\"ok\">solved</span>") == 7


def test_cli_report_and_memory_report(finished_run, tmp_path, capsys):
    from rememberer.cli import main

    assert main(["report", str(finished_run.directory)]) == 0  # reopens the memory read-only
    assert (finished_run.directory / "report.html").exists()
    out = memory_report(finished_run.memory, tmp_path / "memory.html").read_text()
    assert "Records and their advice" in out and "Encouraged" in out
    assert main(["report", str(tmp_path)]) == 2 and "not a finished run directory" in capsys.readouterr().err


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="needs headless Chromium (Debian package 'chromium'; apt-get install chromium)")
def test_report_in_headless_chromium(finished_run, tmp_path):
    page = run_report(finished_run.directory, memory=finished_run.memory)
    browser = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]
    url = page.resolve().as_uri() + "#corridor%20of%205"
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=60).stdout
    # The filter script ran: the hash filtered the records to the 5-cell corridor's four states.
    assert re.search(r'id="record-count"[^>]*>4 of 9 records shown<', dom), dom[-2000:]
    assert dom.count('src="data:image/png;base64,') == 2 and 'id="learning-curve"' in dom
    assert dom.count("<tr><td>eval</td>") == 3 and dom.count("<tr><td>baseline</td>") == 3  # summary row + 2 episodes
    shot = tmp_path / "report.png"
    subprocess.run([*browser, "--window-size=1200,1600", f"--screenshot={shot}", page.resolve().as_uri()],
                   capture_output=True, timeout=60)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 30_000  # a rendered page, not a blank one
