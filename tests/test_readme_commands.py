"""The README's two commands are what the project runs: CI calls exactly the test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bash_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)]


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    two_commands = readme.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    main_job, tests = _bash_blocks(two_commands)[:2]
    ci = [line for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [tests]
    assert tests.endswith("&& sh tests/ensure-chromium.sh && pytest") and main_job.endswith("&& rememberer run")
    assert (ROOT / "tests" / "ensure-chromium.sh").is_file()  # the report's browser test gets its browser
    # both build llama.cpp the same portable way, so one cached wheel serves both and every CPU
    flags = 'CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"'
    assert flags in main_job and flags in tests


def test_the_rebuild_hint_uses_the_readme_build_flags():
    from rememberer.nodes.local_llm import PORTABLE_CMAKE_ARGS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}"' in readme
