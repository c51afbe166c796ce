"""HTML reports of a run and of a memory, checked in a real headless Chromium when present."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

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


ENSURE_CHROMIUM = Path(__file__).parent / "ensure-chromium.sh"
# Headless with no network but loopback: the background-networking flags stop Chromium's own
# connections (updates, sync, field trials), which this closed network would refuse.
HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"]


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="needs headless Chromium: the README's test command installs Debian's "
                    "'chromium' through tests/ensure-chromium.sh when run as root on Debian; see its warning")
def test_report_in_headless_chromium(finished_run, tmp_path):
    page = run_report(finished_run.directory, memory=finished_run.memory)
    browser = [_chromium(), *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}"]
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


def _stub_path(tmp_path, *, uid: int, apt_works: bool, chromium: bool = False) -> Path:
    """A PATH holding only stubs of what ensure-chromium.sh calls (id, apt-get, chromium) and
    the real date and timeout: the script's decisions, without touching the machine."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in ("date", "timeout"):
        (stubs / tool).symlink_to(shutil.which(tool))
    scripts = {"id": f"echo {uid}",
               "apt-get": f'echo "$*" >> {tmp_path / "apt-calls"}\n'
                          + (f'case "$*" in *install*) printf "#!/bin/sh\\n" > {stubs / "chromium"}; {shutil.which("chmod")} +x {stubs / "chromium"};; esac'
                             if apt_works else 'case "$*" in *update) exit 0;; esac; exit 100')}
    if chromium:
        scripts["chromium"] = "exit 0"
    for name, body in scripts.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    return stubs


def _ensure(tmp_path, stubs: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/sh", str(ENSURE_CHROMIUM)], capture_output=True, text=True, timeout=30,
                          env={"PATH": str(stubs), "TMPDIR": str(tmp_path), **env})


def _apt_calls(tmp_path) -> list[str]:
    calls = tmp_path / "apt-calls"
    return calls.read_text().splitlines() if calls.exists() else []


@pytest.mark.parametrize(("uid", "chromium", "env", "says"), [
    (0, True, {}, ""),  # present: silent, nothing installed
    (1000, False, {}, "apt-get install chromium, as root"),  # a user: a hint, never sudo
    (0, False, {"REMEMBERER_NO_BROWSER_INSTALL": "1"}, "REMEMBERER_NO_BROWSER_INSTALL=1"),
])
def test_ensure_chromium_installs_nothing_unless_missing_and_root(tmp_path, uid, chromium, env, says):
    result = _ensure(tmp_path, _stub_path(tmp_path, uid=uid, apt_works=True, chromium=chromium), **env)
    assert result.returncode == 0 and _apt_calls(tmp_path) == []
    assert (says in result.stderr) if says else result.stdout + result.stderr == ""


def test_ensure_chromium_installs_as_root_and_a_failure_is_a_warning(tmp_path):
    works = _ensure(tmp_path, _stub_path(tmp_path, uid=0, apt_works=True))
    assert works.returncode == 0 and "installed in" in works.stdout, works.stderr
    assert _apt_calls(tmp_path) == [  # a bounded download, then dpkg on the local archive only
        "-q -y --no-install-recommends -o DPkg::Lock::Timeout=60 --download-only install chromium",
        "-q -y --no-install-recommends -o DPkg::Lock::Timeout=60 --no-download -o Dpkg::Options::=--force-confdef "
        "-o Dpkg::Options::=--force-confold install chromium"]
    failing = tmp_path / "failing"
    failing.mkdir()
    broken = _ensure(failing, _stub_path(failing, uid=0, apt_works=False))
    # stale or missing package lists: one refresh, one retry, then a warning and exit status 0
    assert broken.returncode == 0 and "warning: installing chromium failed" in broken.stderr
    assert [c.split()[-1] for c in _apt_calls(failing)] == ["chromium", "update", "chromium"]
