"""Output folders: checked before any work starts, and filled all at once or not at all.

:func:`check_output_folder` refuses, before a long computation, a destination that cannot take
the outputs (a file in the way, no write permission, too little free space). :func:`staged`
writes a command's files into a hidden folder beside their destination and moves them into
place only when every one is written, so a failure (a full disk, an error half-way) leaves the
destination as it was.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from discT2.errors import DiscT2Error, InputError

__all__ = ["MAP_BYTES_PER_VOXEL", "check_output_folder", "staged"]

logger = logging.getLogger(__name__)

_STAGING_PREFIX = ".discT2-staging."

#: Upper bound of the bytes one voxel takes in a fit's maps (eight float32 maps, uncompressed).
MAP_BYTES_PER_VOXEL = 32


def check_output_folder(path: str | os.PathLike, *, needed_bytes: int | None = None) -> Path:
    """Check that ``path`` can be (or is) a writable folder with room for the outputs.

    Nothing is created.

    Parameters
    ----------
    path : path-like
        The output folder; it may not exist yet.
    needed_bytes : int, optional
        Upper bound of the bytes the outputs take; compared with the free space of the file
        system that will hold them.

    Returns
    -------
    Path
        ``path`` as a Path.

    Raises
    ------
    InputError
        ``path`` (or a parent of it) exists and is not a folder, the nearest existing folder is
        not writable, or the file system has less than ``needed_bytes`` free.
    """
    path = Path(path)
    existing = path
    while not existing.exists() and existing != existing.parent:
        if existing.is_symlink():
            raise InputError(f"{existing}: a broken link where the output folder should be")
        existing = existing.parent
    if not existing.is_dir():
        what = "the output folder" if existing == path else f"a parent of {path}"
        raise InputError(f"{existing}: exists and is not a folder; it cannot be {what}")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{existing}: not writable; choose another output folder")
    if needed_bytes is not None:
        try:
            free = shutil.disk_usage(existing).free
        except OSError:
            free = None
        if free is not None and free < needed_bytes:
            raise InputError(
                f"{existing}: {free / 1e6:.0f} MB free; the outputs need up to "
                f"{needed_bytes / 1e6:.0f} MB; free some space or choose another output folder"
            )
    return path


@contextmanager
def staged(out: str | os.PathLike) -> Iterator[Path]:
    """A hidden folder to write the outputs into; they move to ``out`` when the block succeeds.

    On an exception the hidden folder is removed with everything in it and ``out`` keeps what
    it held; discT2's errors and OS errors (a full disk) go on with "nothing was written to
    OUT" added to their message. Staging folders of earlier processes that died are removed
    first.

    Parameters
    ----------
    out : path-like
        The destination folder (created when missing).

    Yields
    ------
    Path
        The staging folder, on the same file system as ``out`` (so the moves are renames).
    """
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    _remove_dead_staging(out)
    staging = out / f"{_STAGING_PREFIX}{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
        for item in sorted(staging.iterdir()):
            os.replace(item, out / item.name)
    except DiscT2Error as exc:
        raise type(exc)(f"{exc}; nothing was written to {out}") from exc
    except OSError as exc:
        text = f"{exc.strerror or exc}; nothing was written to {out}"
        raise OSError(exc.errno, text, exc.filename) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any(out.iterdir()):
            out.rmdir()


def _remove_dead_staging(out: Path) -> None:
    for folder in out.glob(f"{_STAGING_PREFIX}*"):
        pid = folder.name[len(_STAGING_PREFIX) :]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
