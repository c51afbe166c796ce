"""Shared fixtures: real Chroma on temporary directories, fast embedders, fake models."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


@pytest.fixture
def hashing_embedder():
    from rememberer.memory import HashingEmbedder

    return HashingEmbedder(128)


@pytest.fixture
def memory_factory(tmp_path, hashing_embedder):
    """Open ExperienceMemory instances on a temporary directory (real Chroma)."""
    from rememberer.memory import ExperienceMemory

    def make(**kwargs):
        kwargs.setdefault("embedder", hashing_embedder)
        kwargs.setdefault("namespace", "test")
        return ExperienceMemory(kwargs.pop("path", tmp_path / "memory"), **kwargs)

    return make


@pytest.fixture(scope="session")
def scienceworld_loader():
    """Loads the ScienceWorld task set with the given options, or skips where it cannot run."""
    pytest.importorskip("scienceworld", reason="the scienceworld extra is not installed: pip install -e '.[scienceworld]'")
    from rememberer.tasks import load_task_set
    from rememberer.tasks.scienceworld import java_available

    if not java_available():
        pytest.skip("ScienceWorld needs Java on PATH (its simulator is a JAR)")
    return lambda **options: load_task_set("scienceworld", **options)


@pytest.fixture(scope="session")
def webshop_data():
    """The shared WebShop data directory, or a skip naming what is missing (it lives outside the repository)."""
    from rememberer.tasks.base import TaskError
    from rememberer.tasks.webshop.catalog import resolve_data_dir

    try:
        return resolve_data_dir()
    except TaskError as exc:
        pytest.skip(str(exc))
