"""Benchmark: feature building on DuckDB against the pandas reference, same command.

Generates the synthetic world (10,000 accounts x 24 months by default), builds every
signal for 24 monthly snapshot dates with the ibis builders, and times the pandas
reference on a subset of the dates (it loops over dates, so its time scales linearly
with their number; the output says how many dates it ran and that the total is scaled).

Run: ``python -m bench.bench_features [--accounts N] [--months M] [--baseline-dates K]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from simulator import GeneratorConfig

TARGET_SPEEDUP = 10.0
TARGET_PEAK_GB = 4.0


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class PeakMemory:
    """Samples the process's resident memory in a thread; ``peak`` is the maximum seen."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.every)

    def __enter__(self) -> PeakMemory:
        self.peak = _rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    with PeakMemory() as memory:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return result, seconds, memory.peak


def _write_world(config: GeneratorConfig, out: str) -> None:
    from simulator import generate_world, write_world

    write_world(generate_world(config), Path(out))


def _subset(dates: Sequence[pd.Timestamp], k: int) -> list[pd.Timestamp]:
    if k >= len(dates):
        return list(dates)
    step = (len(dates) - 1) / max(k - 1, 1)
    return sorted({dates[round(i * step)] for i in range(k)})


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a summary, and return the figures as a dict."""
    from features.builders import build_features, monthly_as_of
    from features.loader import load_dataset
    from simulator import GeneratorConfig
    from tests.pandas_oracle import reference_features

    parser = argparse.ArgumentParser(prog="python -m bench.bench_features", description=__doc__.split("\n")[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", default="duckdb", choices=("duckdb", "spark"))
    parser.add_argument(
        "--baseline-dates",
        type=int,
        default=3,
        help="snapshot dates the pandas reference runs on (its time is scaled to all dates)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    config = GeneratorConfig(accounts=args.accounts, months=args.months, seed=args.seed, gt_paths=4)
    workdir = tempfile.mkdtemp(prefix="bench-features-")
    # Generate and write in a child process, then load like `churn features --data` does, so the
    # measured memory is the loaded dataset's, not the generator's working set.
    child = multiprocessing.get_context("spawn").Process(target=_write_world, args=(config, workdir))
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"world generation failed (exit {child.exitcode})")
    generate_seconds = time.perf_counter() - start
    # Loading is measured too: its peak (raw Arrow tables plus typed frames) comes before the build's.
    data, load_seconds, load_peak = _timed(lambda: load_dataset(workdir))
    first = pd.Timestamp(config.start, tz="UTC")
    dates = monthly_as_of(first + pd.DateOffset(months=1), first + pd.DateOffset(months=args.months))
    events = len(data.tables["usage_events"])
    rows_in = sum(len(t) for t in data.tables.values())

    shutil.rmtree(workdir, ignore_errors=True)
    rss_before = _rss_bytes()
    fast, fast_seconds, fast_peak = _timed(lambda: build_features(data, dates, engine=args.engine))
    subset = _subset(dates, args.baseline_dates)
    _, base_seconds, base_peak = _timed(lambda: reference_features(data, subset))
    base_scaled = base_seconds * len(dates) / len(subset)
    figures: dict[str, Any] = {
        "accounts": args.accounts,
        "months": args.months,
        "snapshot_dates": len(dates),
        "usage_events": events,
        "input_rows": rows_in,
        "output_rows": len(fast.frame),
        "signals": len(fast.signals),
        "engine": args.engine,
        "generate_seconds": round(generate_seconds, 2),
        "load_seconds": round(load_seconds, 2),
        "load_peak_rss_gb": round(load_peak / 2**30, 3),
        "engine_seconds": round(fast_seconds, 3),
        "engine_events_per_second": round(events / fast_seconds),
        "engine_event_snapshots_per_second": round(events * len(dates) / fast_seconds),
        "rss_before_gb": round(rss_before / 2**30, 3),  # the loaded dataset, already in memory
        "engine_peak_rss_gb": round(fast_peak / 2**30, 3),
        "baseline_dates_run": len(subset),
        "baseline_seconds_measured": round(base_seconds, 3),
        "baseline_seconds_scaled": round(base_scaled, 3),
        "baseline_events_per_second": round(events / base_scaled),
        "baseline_peak_rss_gb": round(base_peak / 2**30, 3),
        "speedup": round(base_scaled / fast_seconds, 2),
        "process_max_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
    }
    figures["meets_targets"] = figures["speedup"] >= TARGET_SPEEDUP and figures["engine_peak_rss_gb"] < TARGET_PEAK_GB
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print(figures)
    return figures


def _print(f: dict[str, Any]) -> None:
    print(
        f"world: {f['accounts']:,} accounts x {f['months']} months, "
        f"{f['usage_events']:,} usage events, "
        f"{f['input_rows']:,} input rows (generated in {f['generate_seconds']} s, loaded in "
        f"{f['load_seconds']} s with peak RSS {f['load_peak_rss_gb']} GB)"
    )
    print(
        f"{f['engine']}: {f['output_rows']:,} rows x {f['signals']} signals for "
        f"{f['snapshot_dates']} snapshot "
        f"dates in {f['engine_seconds']} s = {f['engine_events_per_second']:,} events/s "
        f"({f['engine_event_snapshots_per_second']:,} event x snapshot pairs/s), "
        f"peak RSS {f['engine_peak_rss_gb']} GB"
    )
    print(
        f"pandas reference: {f['baseline_seconds_measured']} s for {f['baseline_dates_run']} of "
        f"{f['snapshot_dates']} dates, scaled to {f['baseline_seconds_scaled']} s for all "
        f"({f['baseline_events_per_second']:,} events/s), peak RSS {f['baseline_peak_rss_gb']} GB"
    )
    print(
        f"speedup {f['speedup']}x (target >= {TARGET_SPEEDUP:g}x); engine peak memory "
        f"{f['engine_peak_rss_gb']} GB incl. the {f['rss_before_gb']} GB world "
        f"(target < {TARGET_PEAK_GB:g} GB); process max RSS "
        f"{f['process_max_rss_gb']} GB; {'targets met' if f['meets_targets'] else 'TARGETS MISSED'}"
    )


if __name__ == "__main__":
    main()
