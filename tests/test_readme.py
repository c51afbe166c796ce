"""The README's Python examples run as written (in order, sharing one namespace), in a temp dir."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def test_readme_has_python_examples():
    assert len(python_blocks()) >= 3


def test_readme_python_examples_run(tmp_path):
    """All blocks, in order, as one script run by a fresh interpreter in an empty directory."""
    script = tmp_path / "readme_examples.py"
    script.write_text("\n\n".join(python_blocks()), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "corridor-5: True" in done.stdout and "ada: corridor-3=True, corridor-6=True" in done.stdout
