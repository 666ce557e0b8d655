"""Refuse a parallel run that the worker processes would start again.

The worker processes of ``run_study(..., workers > 1)`` are spawned: each imports the script that
started the run, as Python's ``multiprocessing`` does on every platform with the spawn start
method. A script that calls ``run_study`` outside an ``if __name__ == "__main__":`` block therefore
starts the study again in every worker, which fails there with ``multiprocessing``'s bootstrapping
``RuntimeError`` and leaves every exam failed. This module sees that before any worker starts.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from types import FrameType

from discT2.errors import InputError

__all__ = ["check_main_guard"]


def check_main_guard(workers: int) -> None:
    """Raise when ``run_study`` was called from unguarded top-level code of the ``__main__`` script.

    Parameters
    ----------
    workers : int
        The number of worker processes asked for (named in the message).

    Raises
    ------
    InputError
        The script's top-level line that led to this call is not inside an
        ``if __name__ == "__main__":`` block.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not path:
        return  # an interactive session or a notebook: the workers do not import it
    line = _top_level_line(main.__dict__)
    if line is None:
        return  # not called from the script's top level (a callback, another thread, ...)
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return
    if any(_is_main_guard(node) and node.lineno <= line <= node.end_lineno for node in tree.body):
        return
    raise InputError(
        f"{path}, line {line}: run_study(workers={workers}) starts worker processes that import "
        "this script again, and this line would start the study again in each of them. Put the "
        "script's code under 'if __name__ == \"__main__\":' (see the study tutorial), or use "
        "workers=1."
    )


def _top_level_line(main_globals: dict) -> int | None:
    """The line of ``__main__``'s top-level code that is running (the outermost frame)."""
    frame: FrameType | None = sys._getframe(1)
    line = None
    while frame is not None:
        if frame.f_globals is main_globals and frame.f_code.co_name == "<module>":
            line = frame.f_lineno
        frame = frame.f_back
    return line


def _is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":`` (either side of the ``==``)."""
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    test = node.test
    if len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]
