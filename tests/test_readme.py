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


def readme_commands() -> list[str]:
    """Every ``rememberer …`` command the README shows (shell blocks and inline code)."""
    text = README.read_text(encoding="utf-8")
    shell = "\n".join(re.findall(r"^```bash\n(.*?)^```", text, re.S | re.M))
    lines = [line.split(" #")[0] for line in shell.splitlines()]
    lines += re.findall(r"`(rememberer [^`]+)`", text)
    tools = text.split("### Memory tools", 1)[1].split("\n## ", 1)[0].replace("\\|", "/")
    for row in re.findall(r"^\| (`[^|]*?) \|", tools, re.M):  # the table's first cells: memory actions
        lines += [f"rememberer memory {code}" for code in re.findall(r"`([a-z][^`]*)`", row)]
    out = []
    for line in lines:
        start = line.find("rememberer ")
        if start >= 0 and not line[start:].startswith("rememberer/"):
            out.append(line[start:].split("&&")[0].strip())
    return out


def test_readme_commands_use_real_subcommands_and_flags():
    """Each flag a README command shows is one its (sub)command accepts: the docs cannot drift
    from the CLI (placeholders like ACTION and a|b alternatives are expanded or skipped)."""
    import shlex

    from rememberer.cli import build_parser

    def options(parser):
        return {s for action in parser._actions for s in action.option_strings}

    def subparsers(parser):
        for action in parser._actions:
            if hasattr(action, "choices") and isinstance(action.choices, dict):
                return action.choices
        return {}

    commands = readme_commands()
    assert len(commands) >= 20
    checked = 0
    for command in commands:
        words = shlex.split(command.replace("[", " ").replace("]", " ").replace("|", " "))[1:]
        parser = build_parser()
        path = []
        while words and words[0] in subparsers(parser):
            path.append(words[0])
            parser = subparsers(parser)[words.pop(0)]
        if path == ["memory"]:  # "memory ACTION": every action shares these flags; check against all of them
            parsers = list(subparsers(parser).values())
        else:
            parsers = [parser]
        assert path, f"README shows an unknown subcommand: {command!r}"
        for word in words:
            if word.startswith("--"):
                flag = word.split("=")[0]
                assert any(flag in options(p) for p in parsers), f"README: {command!r} uses {flag}, which {' '.join(path)} has not"
                checked += 1
    assert checked >= 20
