"""Shared fixtures for the WebShop tests: the data directory and one environment per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from rememberer.tasks.webshop import make_environment


@pytest.fixture(scope="session")
def data_dir(webshop_data) -> Path:
    return webshop_data


@pytest.fixture(scope="session")
def env(data_dir):
    """One environment; catalog, goals and index are loaded once for the whole session."""
    return make_environment(data_dir)


@pytest.fixture(scope="session")
def catalog(env):
    return env.catalog


@pytest.fixture(scope="session")
def goals(env):
    return env.goals
