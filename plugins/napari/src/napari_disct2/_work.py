"""Long calls (fitting, growing, detection, propagation) in napari thread workers, with progress."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from typing import Any

__all__ = ["Jobs"]


class Jobs:
    """Runs one long call at a time off the GUI thread and hands its result back on it.

    Parameters
    ----------
    on_error : callable
        Called on the GUI thread with the exception when a call fails (the widget shows it;
        nothing is re-raised into Qt's event loop).
    """

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self.on_error = on_error
        self.worker: Any = None
        self.last_error: BaseException | None = None
        self._pbar: Any = None
        self._desc = ""

    @property
    def busy(self) -> bool:
        """True while a call runs."""
        return self.worker is not None

    def run(
        self,
        fn: Callable[..., Any],
        *,
        desc: str,
        on_done: Callable[[Any], None],
        with_progress: Callable[[int, int], None] | None = None,
    ) -> Any:
        """Start ``fn()`` in a worker; ``on_done(result)`` runs on the GUI thread.

        With ``with_progress``, ``fn`` is called as ``fn(progress=callback)`` and every
        ``callback(done, total)`` it makes reaches ``with_progress`` on the GUI thread and a
        progress bar in napari's activity panel. Other calls show no bar there: the widgets say
        what runs (a busy bar's animation redraws the window all the time, which under software
        OpenGL slows the call itself several times).

        Raises
        ------
        RuntimeError
            Another call is still running.
        """
        from napari.qt.threading import create_worker

        if self.busy:
            raise RuntimeError(f"{desc}: wait until the running job has finished")
        self.last_error = None
        self._desc = desc
        if with_progress is None:
            worker = create_worker(fn, _ignore_errors=True)
        else:
            worker = create_worker(_stepwise, fn, _ignore_errors=True)
            worker.yielded.connect(lambda step: self._step(worker, step, with_progress))
        worker.returned.connect(on_done)
        worker.errored.connect(self._failed)
        worker.finished.connect(self._finished)
        self.worker = worker
        worker.start()
        return worker

    def _step(self, worker: Any, step: tuple[int, int], report: Callable[[int, int], None]) -> None:
        if worker is not self.worker:
            return  # a report that arrived after the job had finished
        done, total = step
        if self._pbar is None and total:
            from napari.utils import progress

            self._pbar = progress(total=total, desc=self._desc)
        pbar = self._pbar
        if pbar is not None:
            if pbar.total != total:
                pbar.total = total
            if done > pbar.n:  # reports from several threads may arrive out of order
                pbar.update(done - pbar.n)
        report(done, total)

    def _failed(self, exc: BaseException) -> None:
        self.last_error = exc
        self.on_error(exc)

    def _finished(self) -> None:
        self.worker = None
        if self._pbar is not None:
            self._pbar.close()
            self._pbar = None


def _stepwise(fn: Callable[..., Any]) -> Generator[tuple[int, int], None, Any]:
    """Run ``fn(progress=...)`` in a helper thread and yield its ``(done, total)`` reports."""
    steps: queue.SimpleQueue = queue.SimpleQueue()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = fn(progress=lambda done, total: steps.put((int(done), int(total))))
        except BaseException as exc:  # handed to the worker's thread below
            box["error"] = exc
        finally:
            steps.put(None)

    thread = threading.Thread(target=target, name="discT2-job", daemon=True)
    thread.start()
    while (step := steps.get()) is not None:
        yield step
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]
