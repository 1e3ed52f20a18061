"""Small generated worlds written once per test module (each module picks the size it needs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import GeneratorConfig, generate_world, write_world


def generated_world(factory: pytest.TempPathFactory, *, accounts: int, months: int, seed: int) -> Path:
    """A folder holding a generated world of ``accounts`` x ``months`` (same seed, same bytes)."""
    out = factory.mktemp("world")
    write_world(generate_world(GeneratorConfig(accounts=accounts, months=months, seed=seed)), out)
    return out
