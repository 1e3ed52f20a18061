"""Writing a world to a dataset folder."""

from __future__ import annotations

from pathlib import Path

from features.loader import write_dataset, write_frame
from simulator.config import World


def write_world(world: World, out: Path | str) -> None:
    """Write the tables (via :func:`features.loader.write_dataset`) and ``ground_truth.parquet``.

    Every file is written to a temporary name and renamed, so a reader never sees half a
    file; the same world always gives the same bytes.
    """
    out = Path(out)
    write_dataset(world.tables, out)
    write_frame(world.ground_truth, out / "ground_truth.parquet")
