"""One log per exam: while an exam runs, everything discT2 logs (and every Python warning) goes
to that exam's ``exam.log`` instead of the console; the runner prints one line per exam."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ExamLog", "capture_exam_log"]

_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class ExamLog(logging.Handler):
    """Collects formatted log lines in memory (written to ``exam.log`` at the end)."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.lines: list[str] = []
        self.warnings: list[str] = []
        self.setFormatter(logging.Formatter(_FORMAT, datefmt="%Y-%m-%d %H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
            if record.levelno >= logging.WARNING:
                self.warnings.append(record.getMessage())
        except Exception:  # pragma: no cover - logging must never break the exam
            self.handleError(record)

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + ("\n" if self.lines else "")


@contextmanager
def capture_exam_log(level: int = logging.INFO) -> Iterator[ExamLog]:
    """Route the ``discT2`` logger and Python warnings into an :class:`ExamLog` for a while.

    The logger's handlers, level and propagation are restored afterwards, so the console (or a
    notebook's logging set-up) is back as it was.
    """
    logger = logging.getLogger("discT2")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler = ExamLog(level)
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield handler
            finally:
                for w in caught:
                    logging.getLogger("discT2.study").warning(
                        "%s: %s", w.category.__name__, w.message
                    )
    finally:
        handlers, old_level, propagate = saved
        logger.handlers[:] = handlers
        logger.setLevel(old_level)
        logger.propagate = propagate
