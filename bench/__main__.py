"""`python -m bench` (or `make bench`): every benchmark at its reference size, one after another.

Each benchmark times our code against a baseline run in the same process and prints the ratio.
Pass `--accounts N` to run them all on a smaller world.
"""

from __future__ import annotations

import sys

from bench import bench_api, bench_features, bench_generator, bench_scoring


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    for bench in (bench_generator, bench_features, bench_scoring, bench_api):
        print(f"== {bench.__name__} ==", flush=True)
        bench.main(args)


if __name__ == "__main__":
    main()
