"""One ``discT2 run`` at a time per output folder: a lock file, and cleanup of stale temporaries.

The lock is ``DIR/.discT2-run.lock``, held with an exclusive ``flock`` for the whole run and
holding the owner's process id, host and start time (for the message a second run prints). The
operating system drops the ``flock`` when its process dies, so the lock of a killed run is
recognised as stale (the file is there, nobody holds it) and taken over. A run that takes the
lock removes the hidden temporary files (``.<name>.<pid>.tmp*``) that an interrupted table
write left in ``DIR``: only the lock's holder writes there, so none of them can be in use.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from discT2.errors import StudyError

__all__ = ["LOCK_NAME", "study_lock"]

logger = logging.getLogger(__name__)

LOCK_NAME = ".discT2-run.lock"

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock; the process-id check stands in
    fcntl = None  # type: ignore[assignment]


@contextmanager
def study_lock(out: Path) -> Iterator[None]:
    """Hold ``out`` for one run; refuse at once when another live run holds it.

    Parameters
    ----------
    out : Path
        The study output folder (it must exist).

    Raises
    ------
    StudyError
        Another ``discT2 run`` is writing into ``out`` (the message names its process and host).
    """
    path = out / LOCK_NAME
    fd = _acquire(path)
    try:
        _remove_stale_temporaries(out)
        yield
    finally:
        with suppress(OSError):
            path.unlink()
        os.close(fd)


def _acquire(path: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd, path):
                holder = _read(fd)
                raise StudyError(
                    f"{path.parent}: the folder is in use by another discT2 run ({_who(holder)}); "
                    "wait for it to finish or write to another folder"
                )
            if _same_file(fd, path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder removed that file as we opened it: take the new one
    previous = _read(fd)
    if previous:
        logger.warning(
            "%s: a previous run (%s) stopped without finishing; its lock is taken over",
            path.parent,
            _who(previous),
        )
    doc = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(doc).encode(), 0)
    return fd


def _try_lock(fd: int, path: Path) -> bool:
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except OSError as exc:  # a file system without locks (some network mounts)
            logger.warning(
                "%s: cannot lock the folder (%s); make sure no other run writes there",
                path.parent,
                exc.strerror,
            )
        return True
    holder = _read(fd)  # pragma: no cover - without flock: a live process on this host holds it
    return not (
        holder.get("host") == socket.gethostname() and _alive(int(holder.get("pid", 0)))
    )  # pragma: no cover


def _alive(pid: int) -> bool:  # pragma: no cover - only without flock
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _read(fd: int) -> dict:
    try:
        data = os.pread(fd, 4096, 0)
        doc = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (OSError, ValueError):
        return {"unreadable": True}
    return doc if isinstance(doc, dict) else {"unreadable": True}


def _who(holder: dict) -> str:
    if not holder.get("pid"):
        return "owner unknown"
    return (
        f"process {holder.get('pid')} on {holder.get('host', '?')}, started "
        f"{holder.get('started', '?')}"
    )


def _remove_stale_temporaries(out: Path) -> None:
    removed = 0
    for p in out.glob(".*.tmp*"):
        if p.is_file() and not p.is_symlink():
            with suppress(OSError):
                p.unlink()
                removed += 1
    if removed:
        logger.info("%s: removed %d temporary file(s) left by an interrupted run", out, removed)
