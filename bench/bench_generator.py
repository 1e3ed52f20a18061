"""Benchmark of the synthetic world generator.

Times :func:`simulator.generate_world` at the benchmark size and, in the same
process, a baseline: writing the generated usage events to Parquet (pyarrow, default
compression). The ratio says how many Parquet writes of the same events one generation
costs, which stays comparable across machines.

Run: ``python -m bench.bench_generator [--accounts 10000 --months 24 --seed 0]``.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from bench import print_figures
from simulator import GeneratorConfig, generate_world


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def main(argv: Sequence[str] | None = None) -> dict[str, object]:
    """Run the benchmark, print a summary line per figure, and return the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_generator", description=__doc__)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)

    config = GeneratorConfig(accounts=args.accounts, months=args.months, seed=args.seed)
    start = time.perf_counter()
    world = generate_world(config)
    seconds = time.perf_counter() - start
    events = len(world.tables["usage_events"])

    # Baseline in the same process: write the same events to Parquet.
    table = pa.Table.from_pandas(world.tables["usage_events"], preserve_index=False)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pq.write_table(table, Path(tmp) / "usage_events.parquet")
        baseline = time.perf_counter() - start

    figures: dict[str, object] = {
        "benchmark": "generator",
        "accounts": args.accounts,
        "months": args.months,
        "usage_events": events,
        "rows": world.summary.rows,
        "seconds": round(seconds, 2),
        "events_per_second": round(events / seconds),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "baseline": "pyarrow write of the same usage events to Parquet",
        "baseline_seconds": round(baseline, 2),
        "ratio_vs_baseline": round(seconds / baseline, 1),
        "churn_rate": round(world.summary.churn_rate, 4),
        "ground_truth_auc": round(world.summary.ground_truth_auc, 4),
    }
    print_figures(figures, args.json)
    return figures


if __name__ == "__main__":
    main()
