"""Where a study's exams run: a pool of local processes, or the workers of a Dask cluster.

The runner's scheduling (baselines first, a follow-up once its baseline is done) is the same for
both; an engine only starts an exam's task somewhere, says which tasks have finished, and hands
back their :class:`~discT2.study.exam.ExamResult`. Exams run with :func:`run_exam` either way, so
the outputs (and the tables made from them) do not depend on the engine.

Threads: every exam processes its fit with ``threads`` threads, and SimpleITK, numba and BLAS
(through threadpoolctl when installed) are held to the same number in the worker process, so
``workers x threads`` never exceeds the cores (:func:`threads_per_worker`). Registration runs
single-threaded whatever the setting (see :mod:`discT2.roi.register`), which also keeps its
result independent of the machine.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
from collections.abc import Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace
from typing import Any

from discT2.errors import InputError
from discT2.study.exam import ExamResult, ExamTask, run_exam

__all__ = ["DaskEngine", "PoolEngine", "limit_threads", "threads_per_worker"]

#: Environment variables that size the BLAS/OpenMP/ITK thread pools of a process at its start.
_THREAD_ENV = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS",
)


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def threads_per_worker(workers: int, n_cores: int | None = None) -> int:
    """Threads each of ``workers`` concurrent exams may use: ``cores // workers``, at least 1.

    Parameters
    ----------
    workers : int
        Exams run at once.
    n_cores : int, optional
        Cores available (default: those of this process).

    Returns
    -------
    int
        Threads per exam.

    Examples
    --------
    >>> threads_per_worker(2, 2), threads_per_worker(3, 16), threads_per_worker(4, 2)
    (1, 5, 1)
    """
    return max(1, (n_cores or cores()) // max(1, workers))


def limit_threads(threads: int) -> None:
    """Hold SimpleITK, numba and BLAS (when threadpoolctl is installed) to ``threads`` threads.

    Parameters
    ----------
    threads : int
        Threads per process.
    """
    import numba
    import SimpleITK

    SimpleITK.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # BLAS then follows OMP_NUM_THREADS & co., set before it loaded
        return
    threadpool_limits(threads)


@contextlib.contextmanager
def _thread_environment(threads: int) -> Iterator[None]:
    """Thread-count variables for spawned processes (only those the user has not set)."""
    added = {k: str(threads) for k in _THREAD_ENV if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


class PoolEngine:
    """Exams in ``workers`` spawned local processes, ``threads`` threads each.

    Parameters
    ----------
    workers : int
        Processes.
    threads : int
        Threads per process (see :func:`threads_per_worker`).
    """

    name = "local processes"

    def __init__(self, workers: int, threads: int) -> None:
        self.threads = threads
        # The pool starts its processes when exams are submitted, not here: the variables stay
        # set until close(), so that BLAS in every worker starts with its share of threads.
        self._environment = contextlib.ExitStack()
        self._environment.enter_context(_thread_environment(threads))
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=limit_threads,
            initargs=(threads,),
        )

    def submit(self, task: ExamTask) -> Future:
        """Start an exam; raises ``BrokenProcessPool`` or ``RuntimeError`` when it cannot."""
        return self._pool.submit(run_exam, replace(task, fit_workers=self.threads))

    def wait(self, pending: Collection[Future]) -> Collection[Future]:
        """Block until at least one of ``pending`` has finished; return those finished."""
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        return done

    def result(self, future: Future) -> ExamResult:
        """The exam's result; raises when its process died."""
        return future.result()

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down (without waiting, and dropping queued exams, when ``cancel``)."""
        try:
            self._pool.shutdown(wait=not cancel, cancel_futures=cancel)
        finally:
            self._environment.close()

    @staticmethod
    def crash_reason(exc: BaseException) -> str:
        if isinstance(exc, BrokenProcessPool):
            return "the worker process died (out of memory?); rerun to retry"
        return f"the worker process failed: {type(exc).__name__}: {exc}"


# One exam at a time per worker process: an exam's log capture and warning filters are
# process-wide, so exams must not share a process concurrently (a Dask worker with several
# threads would run them side by side otherwise).
_EXAM_LOCK = threading.Lock()


def run_exam_on_dask_worker(task: ExamTask) -> ExamResult:
    """:func:`run_exam` in a Dask worker: one exam at a time, threads = the worker's threads.

    Parameters
    ----------
    task : ExamTask
        The exam.

    Returns
    -------
    ExamResult
        As :func:`run_exam`.
    """
    from distributed import get_worker

    threads = max(1, int(get_worker().state.nthreads))
    with _EXAM_LOCK:
        limit_threads(threads)
        return run_exam(replace(task, fit_workers=threads))


class DaskEngine:
    """Exams on the workers of a Dask cluster (``dask.distributed``).

    A task whose worker is lost is run again on another worker by the scheduler (up to its
    ``distributed.scheduler.allowed-failures`` times, default 3); after that, or when a worker
    cannot run it at all, the exam is recorded as failed at stage ``run`` and the study goes on.

    Parameters
    ----------
    client : distributed.Client
        Connected to the cluster. Its workers must see the inputs and the output folder at the
        same paths as this process, and have the same discT2 installed.
    """

    name = "Dask"

    def __init__(self, client: Any) -> None:
        try:
            import distributed
        except ImportError as exc:  # pragma: no cover - a client implies distributed
            raise InputError(
                "a Dask client needs dask.distributed: pip install 'discT2[dask]'"
            ) from exc
        if not isinstance(client, distributed.Client):
            raise InputError(
                f"client must be a dask.distributed.Client; got {type(client).__name__}"
            )
        self._distributed = distributed
        self._client = client
        self._submitted: list[Any] = []
        self.threads = 0  # set per worker, from its thread count

    def submit(self, task: ExamTask) -> Any:
        """Start an exam on the cluster."""
        key = f"discT2-exam-{task.spec.subject}-{task.spec.visit}-{os.urandom(4).hex()}"
        future = self._client.submit(run_exam_on_dask_worker, task, key=key, pure=False)
        self._submitted.append(future)
        return future

    def wait(self, pending: Collection[Any]) -> Collection[Any]:
        """Block until at least one of ``pending`` has finished; return those finished."""
        done, _ = self._distributed.wait(list(pending), return_when="FIRST_COMPLETED")
        return done

    def result(self, future: Any) -> ExamResult:
        """The exam's result; raises when the cluster could not run it."""
        return future.result()

    def close(self, cancel: bool = False) -> None:
        """Release this run's tasks (the cluster is the caller's); ``cancel`` stops unfinished
        ones."""
        if cancel:
            with contextlib.suppress(Exception):
                self._client.cancel(self._submitted, force=True)
        self._submitted.clear()

    @staticmethod
    def crash_reason(exc: BaseException) -> str:
        if type(exc).__name__ == "KilledWorker":
            return "the Dask workers running this exam died (out of memory?); rerun to retry"
        return f"the Dask cluster could not run this exam: {type(exc).__name__}: {exc}"
