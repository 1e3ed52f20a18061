"""Benchmark: `churn features` memory and time as the world grows (issue 12, out of core).

Generates one base world with the simulator (1,000 accounts x 24 months by default),
replicates it with renamed IDs to each size (10k, 30k and 100k accounts by default;
:mod:`bench.replicate`, streaming in DuckDB, cached under ``--cache``), then runs
``churn features`` for the world's 24 monthly snapshot dates on each size, each in its
own subprocess, and records the wall time and the peak RSS of that subprocess tree
(sampled from /proc every 0.1 s; a tree above ``--max-rss-gb`` is killed and reported as
exceeded). The baseline is the smallest size, run in the same command: the ratios say how
time and memory grow with the events, so a flat memory ratio means the tables stay on the
engine. ``--train`` also times ``churn train`` on the largest size.

``--checkout DIR`` runs the CLI from another source tree (e.g. a ``git archive`` of an
older commit), so before and after figures come from the same harness.

Run: ``python -m bench.bench_outofcore [--sizes 10000,30000,100000] [--train]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from bench.proctree import Run, run_sampled
from bench.replicate import count_rows, replicate_world

GB = 2**30


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"--sizes takes positive account counts, not {text!r}")
    return sizes


def _env(checkout: Path) -> dict[str, str]:
    # One OpenMP thread, as the project's other benchmarks use. The checkout on PYTHONPATH (and
    # as the working directory, which `python -m` puts first on sys.path) decides which loader
    # and engine are measured.
    return {**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def _churn(*args: str) -> list[str]:
    return [sys.executable, "-m", "churn", *args]


def base_world(cache: Path, accounts: int, months: int, seed: int, start: str, checkout: Path) -> Path:
    """The simulator's world, generated once in a subprocess and reused from the cache."""
    out = cache / f"base-{accounts}x{months}-seed{seed}-{start}"
    if (out / "accounts.parquet").exists():
        return out
    partial = out.with_name(out.name + ".partial")
    argv = _churn("generate", "--out", str(partial), "--accounts", str(accounts), "--months", str(months))
    argv += ["--seed", str(seed), "--start", start]
    subprocess.run(argv, env=_env(checkout), cwd=checkout, check=True, stdout=subprocess.DEVNULL)
    partial.rename(out)
    return out


def loader_file(checkout: Path) -> str:
    """Which ``features/loader.py`` the CLI imports from ``checkout``: proof of the code measured."""
    code = "import features.loader as m; print(m.__file__)"
    found = subprocess.run([sys.executable, "-c", code], env=_env(checkout), cwd=checkout, capture_output=True)
    return found.stdout.decode().strip()


def snapshot_dates(start: str, months: int) -> list[str]:
    """The first of every month after the history starts, through its last month: 24 for 24 months."""
    first = pd.Timestamp(start)
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(first, periods=months + 1, freq="MS")[1:]]


def error_line(log_tail: str) -> str:
    """The line of a failed run's output that names the error (a traceback's last ``...Error:``)."""
    lines = [line.strip() for line in log_tail.splitlines() if line.strip()]
    named = [line for line in lines if "Error" in line or "Exception" in line]
    return (named or lines or [""])[-1]


def _figures(run: Run) -> dict[str, Any]:
    return {
        "status": "exceeded" if run.exceeded else ("ok" if run.returncode == 0 else f"exit {run.returncode}"),
        "seconds": round(run.seconds, 1),
        "peak_rss_gb": round(run.peak_rss / GB, 2),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table, and return the figures."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_outofcore", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 30_000, 100_000], help="accounts, comma-separated")
    parser.add_argument("--base-accounts", type=int, default=1_000, help="accounts of the generated base world")
    parser.add_argument("--months", type=int, default=24, help="months of history (= monthly snapshot dates)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", default="2024-01-01", help="first day of the history")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/churn-ooc"), help="folder for the worlds")
    parser.add_argument("--max-rss-gb", type=float, default=18.0, help="kill a run whose tree RSS passes this")
    parser.add_argument("--engine", default="duckdb", choices=("duckdb", "spark"))
    parser.add_argument("--checkout", type=Path, default=Path.cwd(), help="source tree the CLI runs from")
    parser.add_argument("--label", default="run", help="names the logs in --cache (e.g. before, after)")
    parser.add_argument("--train", action="store_true", help="also run `churn train` on the largest size")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    bad = [s for s in args.sizes if s % args.base_accounts]
    if bad:
        parser.error(f"--sizes must be multiples of --base-accounts {args.base_accounts}: {bad}")

    args.cache = args.cache.resolve()
    args.cache.mkdir(parents=True, exist_ok=True)
    checkout = args.checkout.resolve()
    env = _env(checkout)
    cap = int(args.max_rss_gb * GB)
    base = base_world(args.cache, args.base_accounts, args.months, args.seed, args.start, checkout)
    dates = snapshot_dates(args.start, args.months)
    rows: list[dict[str, Any]] = []
    for accounts in args.sizes:
        copies = accounts // args.base_accounts
        world = replicate_world(base, args.cache / f"{base.name}-x{copies}", copies)
        out = args.cache / f"features-{accounts}.parquet"
        argv_ = _churn("features", "--data", str(world), "--as-of", ",".join(dates), "--out", str(out))
        run = run_sampled(
            [*argv_, "--engine", args.engine],
            env=env,
            cwd=checkout,
            max_rss=cap,
            log=args.cache / f"features-{args.label}-{accounts}.log",
        )
        row = {"accounts": accounts, "usage_events": count_rows(world / "usage_events.parquet"), **_figures(run)}
        if run.returncode not in (0, None):
            row["error"] = error_line(run.stderr_tail)
        out.unlink(missing_ok=True)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)  # progress: one line per size
    first = rows[0]
    for row in rows:
        row["events_ratio"] = round(row["usage_events"] / first["usage_events"], 2)
        # A run killed at the cap has no time or peak of its own: its ratios would understate both.
        finished = row["status"] == "ok" and first["status"] == "ok"
        row["time_ratio"] = round(row["seconds"] / first["seconds"], 2) if finished else None
        row["rss_ratio"] = round(row["peak_rss_gb"] / first["peak_rss_gb"], 2) if finished else None
    figures: dict[str, Any] = {
        "benchmark": "outofcore",
        "checkout": str(checkout),
        "loader": loader_file(checkout),
        "engine": args.engine,
        "snapshot_dates": len(dates),
        "base_world": f"{args.base_accounts} accounts x {args.months} months, seed {args.seed}",
        "features": rows,
    }
    if args.train:
        largest = args.sizes[-1]
        world = args.cache / f"{base.name}-x{largest // args.base_accounts}"
        model = args.cache / f"model-{largest}"
        argv_ = _churn("train", "--data", str(world), "--out", str(model), "--no-mlflow", "--engine", args.engine)
        run = run_sampled(
            argv_, env=env, cwd=checkout, max_rss=cap, log=args.cache / f"train-{args.label}-{largest}.log"
        )
        figures["train"] = {"accounts": largest, **_figures(run)}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print(figures)
    return figures


def _print(figures: dict[str, Any]) -> None:
    print(
        f"churn features, {figures['snapshot_dates']} monthly snapshot dates, engine {figures['engine']}, "
        f"replicas of {figures['base_world']}; loader {figures['loader']}"
    )
    head = ("accounts", "usage events", "time s", "peak RSS GB", "events x", "time x", "RSS x", "status")
    print(" | ".join(head))
    for r in figures["features"]:
        killed = ">" if r["status"] == "exceeded" else ""
        cells = [
            f"{r['accounts']:,}",
            f"{r['usage_events']:,}",
            f"{killed}{r['seconds']}",
            f"{killed}{r['peak_rss_gb']}",
        ]
        ratios = (r["events_ratio"], r["time_ratio"], r["rss_ratio"])
        print(" | ".join(cells + ["-" if x is None else str(x) for x in ratios] + [r["status"]]))
    print("(ratios against the smallest size, run in the same command; > and -: killed at --max-rss-gb)")
    if "train" in figures:
        t = figures["train"]
        print(f"churn train on {t['accounts']:,} accounts: {t['seconds']} s, peak RSS {t['peak_rss_gb']} GB, ", end="")
        print(t["status"])


if __name__ == "__main__":
    main()
