"""Micro-batching: concurrent score requests share one scorer call, off the event loop.

A scorer call has a fixed cost (three LightGBM calls, the scorecard, the flags) that
twenty rows share, so requests that arrive while a batch is being scored wait for the next
call and go together; a lone request is scored at once, with no added delay.

Scoring runs in one worker: a separate process by default (:func:`process_scorer`), so
pandas holding the GIL never stalls the event loop and the two use both cores; or a
thread (:func:`thread_scorer`, used by tests that patch the scorer). Either way the worker
scores lists of dicts with :meth:`serving.scorer.Scorer.score_rows` (no DataFrame on the
way), so the event loop only moves lists of dicts, and LightGBM runs one OpenMP thread (a
thread team costs more to wake than these small batches take). The queue is bounded: past
``max_pending`` rows a request fails fast with :class:`Overloaded` (503) instead of queuing.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from threadpoolctl import threadpool_limits

# serving.scorer loads LightGBM, whose OpenMP runtime reads OMP_NUM_THREADS once, when it loads:
# a scoring process sets it first (_load_in_worker), so this module imports the scorer only there.
if TYPE_CHECKING:
    from serving.scorer import Scorer

Records = list[dict[str, Any]]
ScoreRecords = Callable[[Records], Records]
Waiting = tuple[Records, "asyncio.Future[Records]"]  # a request's rows and where its results go


class Overloaded(RuntimeError):
    """Too many rows are waiting to be scored."""


def _one_openmp_thread() -> None:
    threadpool_limits(limits=1, user_api="openmp")


# --- the scoring process ---------------------------------------------------------------

_SCORER: Any = None  # the worker process's own Scorer


def _load_in_worker(model_dir: str, version: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"  # read by OpenMP when LightGBM loads, just below
    from serving.scorer import Scorer  # not at the top: after OMP_NUM_THREADS (see the imports)

    global _SCORER
    _SCORER = Scorer.load(model_dir)
    _one_openmp_thread()
    gc.freeze()  # the model's objects stay for the process's life: keep them out of GC passes
    if _SCORER.version != version:  # the folder changed since the server loaded it: refuse (pool breaks)
        raise RuntimeError(f"model {_SCORER.version} in {model_dir}, expected {version}")


def _score_in_worker(rows: Records) -> Records:
    scored: Records = _SCORER.score_rows(rows)
    return scored


def process_scorer(model_dir: Path, version: str, workers: int = 1) -> tuple[ScoreRecords, Executor]:
    """Score in ``workers`` forkserver processes that each load (and checksum-verify) the model."""
    context = multiprocessing.get_context("forkserver")
    executor = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_load_in_worker, initargs=(str(model_dir), version)
    )
    return _score_in_worker, executor


def thread_scorer(scorer: Scorer) -> tuple[ScoreRecords, Executor]:
    """Score in one thread of this process with ``scorer``."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scorer", initializer=_one_openmp_thread)
    return scorer.score_rows, executor


class Batcher:
    """Hands lists of records to ``score_records`` on ``executor``, concurrent requests together."""

    def __init__(
        self, score: ScoreRecords, executor: Executor, *, workers: int = 1, max_rows: int = 256, max_pending: int = 2000
    ):
        self.score_records, self.executor, self.workers = score, executor, workers
        self.max_rows, self.max_pending = max_rows, max_pending
        self._pending: list[Waiting] = []
        self._pending_rows = 0
        self._in_flight = 0  # batches being scored, at most one per worker
        self._loop: asyncio.AbstractEventLoop | None = None
        self.calls = 0  # scorer calls made, for tests and metrics
        self.broken = False  # the scoring process died: the service is no longer ready

    async def submit(self, records: Records) -> Records:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start several): the old one's queue is gone
            self._loop, self._pending, self._pending_rows, self._in_flight = loop, [], 0, 0
        if self._pending_rows + len(records) > self.max_pending:
            raise Overloaded(f"more than {self.max_pending} rows waiting to be scored")
        future: asyncio.Future[Records] = loop.create_future()
        self._pending.append((records, future))
        self._pending_rows += len(records)
        self._start_batches(loop)
        return await future

    def run_sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` in the worker from synchronous code (warm-up at start-up)."""
        return self.executor.submit(fn, *args).result()

    def _start_batches(self, loop: asyncio.AbstractEventLoop) -> None:
        # Everything waiting goes into the next batch as soon as a worker is free: under load the
        # batches grow by themselves, and a lone request never waits for company.
        while self._pending and self._in_flight < self.workers:
            self._in_flight += 1
            loop.create_task(self._score_batch(self._take(), loop))

    async def _score_batch(self, batch: list[Waiting], loop: asyncio.AbstractEventLoop) -> None:
        try:
            self.calls += 1
            scored = await loop.run_in_executor(self.executor, self.score_records, [r for rs, _ in batch for r in rs])
        except Exception as exc:  # noqa: BLE001 - handed to every waiting request, which answers 500
            self.broken = self.broken or isinstance(exc, BrokenProcessPool)
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            start = 0
            for records, future in batch:
                if not future.done():  # a request that timed out is cancelled
                    future.set_result(scored[start : start + len(records)])
                start += len(records)
        finally:
            if loop is self._loop:
                self._in_flight -= 1
                self._start_batches(loop)

    def _take(self) -> list[Waiting]:
        batch: list[Waiting] = []
        rows = 0
        while self._pending and (not batch or rows + len(self._pending[0][0]) <= self.max_rows):
            records, future = self._pending.pop(0)
            self._pending_rows -= len(records)
            rows += len(records)
            batch.append((records, future))
        return batch

    def close(self) -> None:
        # Waits for the batch in hand (milliseconds). Without the wait, the scoring processes outlived
        # the server: each holds its own queue's write end, so it never sees the parent go.
        self.executor.shutdown(wait=True, cancel_futures=True)
