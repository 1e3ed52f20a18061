"""Benchmark: `churn features` on a world stored as CSV against the same world as Parquet.

Takes a world folder of Parquet files (by default the 10k-account world the out-of-core
benchmark caches, :mod:`bench.bench_outofcore`), writes each table as a gzipped CSV file with
DuckDB (cached beside it), then runs ``churn features`` for ``--dates`` monthly snapshot dates
on both folders, each in its own subprocess, recording wall time and the peak RSS of the
process tree. The baseline is the Parquet run of the same command: a memory ratio near 1 says
CSV files stream through the engine as Parquet files do instead of passing through pandas.
``--checkout DIR`` runs the CLI from another source tree (e.g. a ``git archive`` of an older
commit), for a before figure from the same harness.

Run: ``python -m bench.bench_csv [--world DIR] [--dates 24] [--checkout DIR]``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb

from bench.bench_outofcore import GB, _env, snapshot_dates
from bench.proctree import run_sampled

WORLD = Path("/tmp/churn-ooc/base-1000x24-seed0-2024-01-01-x10")


def as_csv(world: Path) -> Path:
    """Every Parquet table of ``world`` as ``<table>.csv.gz`` in a sibling folder (written once)."""
    out = world.with_name(world.name + "-csv")
    if (out / "accounts.csv.gz").exists():
        return out
    partial = out.with_name(out.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        for file in sorted(world.glob("*.parquet")):
            target = (partial / f"{file.stem}.csv.gz").as_posix()
            con.execute(
                f"COPY (SELECT * FROM read_parquet('{file.as_posix()}')) TO '{target}' (HEADER, COMPRESSION gzip)"
            )
    partial.rename(out)
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_csv", description=__doc__.split("\n")[0])
    parser.add_argument("--world", type=Path, default=WORLD, help="a world folder of Parquet files")
    parser.add_argument("--start", default="2024-01-01", help="first day of the world's history")
    parser.add_argument("--dates", type=int, default=24, help="monthly snapshot dates")
    parser.add_argument("--checkout", type=Path, default=Path.cwd(), help="source tree the CLI runs from")
    parser.add_argument("--max-rss-gb", type=float, default=16.0, help="kill a run whose tree RSS passes this")
    args = parser.parse_args(argv)
    checkout = args.checkout.resolve()
    folders = {"parquet": args.world.resolve(), "csv.gz": as_csv(args.world.resolve())}
    dates = snapshot_dates(args.start, args.dates)
    figures: dict[str, Any] = {}
    for kind, folder in folders.items():
        out = folder.parent / f"features-{kind}.parquet"
        argv_ = [sys.executable, "-m", "churn", "features", "--data", str(folder), "--out", str(out)]
        argv_ += [a for d in dates for a in ("--as-of", d)]
        log = folder.parent / f"features-{kind}.log"
        run = run_sampled(argv_, env=_env(checkout), cwd=checkout, max_rss=int(args.max_rss_gb * GB), log=log)
        status = "exceeded" if run.exceeded else ("ok" if run.returncode == 0 else f"exit {run.returncode}")
        figures[kind] = {"status": status, "seconds": round(run.seconds, 1), "peak_rss_gb": round(run.peak_rss / GB, 2)}
        if status != "ok":
            print(f"{kind}: {status}: {run.stderr_tail.strip().splitlines()[-1:]}", file=sys.stderr)
    base = figures["parquet"]
    print(f"churn features, {len(dates)} dates, {folders['parquet'].name} (checkout {checkout})")
    print(f"{'stored as':<10} {'status':<9} {'seconds':>8} {'peak RSS GB':>12} {'time x':>7} {'RSS x':>6}")
    for kind, f in figures.items():
        print(
            f"{kind:<10} {f['status']:<9} {f['seconds']:>8} {f['peak_rss_gb']:>12} "
            f"{f['seconds'] / base['seconds']:>7.2f} {f['peak_rss_gb'] / base['peak_rss_gb']:>6.2f}"
        )
    return figures


if __name__ == "__main__":
    main()
