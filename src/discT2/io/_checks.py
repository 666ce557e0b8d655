"""Checks made before a reader opens or allocates anything: regular files, sizes."""

from __future__ import annotations

import errno
import math
import os
import stat
from pathlib import Path
from typing import Any

from discT2.errors import InputError

__all__ = ["MAX_FILE_BYTES", "MAX_IMAGE_BYTES", "check_declared_size", "file_problem"]

#: Files larger than this are refused unread: no MR image file comes near it, and an endless or
#: huge file must not be read into memory.
MAX_FILE_BYTES = 4 * 1024**3


def file_problem(path: Path) -> str | None:
    """Why ``path`` must not be opened as an image file (a short phrase), or None when it may.

    Only regular files are read: a FIFO would block forever, a device (``/dev/zero``) would
    stream forever, and a dangling or looping link cannot be opened. Files over
    :data:`MAX_FILE_BYTES` are refused before reading.

    Parameters
    ----------
    path : Path
        The file to check (links are followed).

    Returns
    -------
    str or None
        ``'no such file or folder'``, ``'broken link'``, ``'link loop'``, ``'not a regular
        file (FIFO, device or socket)'``, ``'file too large'``, ``'unreadable file'`` or None.
    """
    try:
        info = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "link loop"
        if exc.errno == errno.ENOENT:
            return "broken link" if os.path.islink(path) else "no such file or folder"
        return "unreadable file"
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (FIFO, device or socket)"
    if info.st_size > MAX_FILE_BYTES:
        return "file too large"
    return None


#: Decoded image data larger than this are refused before allocation (a header can claim any
#: size: 65535 x 65535 x 65535 voxels is one field away from a valid file).
MAX_IMAGE_BYTES = 4 * 1024**3


def check_declared_size(path: Path, img: Any) -> None:
    """Refuse a NIfTI image whose header declares more data than the file can hold.

    Parameters
    ----------
    path : Path
        The file, named in the message.
    img : nibabel image
        Loaded lazily (the data not yet read).

    Raises
    ------
    InputError
        The declared data exceed :data:`MAX_IMAGE_BYTES`, or (uncompressed files) the file is
        shorter than the header's offset plus the declared data.
    """
    shape = tuple(int(n) for n in img.shape)
    if any(n <= 0 for n in shape):
        raise InputError(f"{path}: the header declares an empty image of shape {shape}")
    declared = math.prod(shape) * img.get_data_dtype().itemsize
    if declared > MAX_IMAGE_BYTES:
        raise InputError(
            f"{path}: the header declares {declared / 1024**3:.3g} GiB of image data (shape "
            f"{shape}); refused (more than {MAX_IMAGE_BYTES // 1024**3} GiB)"
        )
    if path.name.lower().endswith(".gz"):
        return
    offset = int(img.dataobj.offset)
    size = os.stat(path).st_size
    if offset + declared > size:
        raise InputError(
            f"{path}: truncated: the header declares {declared} bytes of image data from offset "
            f"{offset}, but the file holds {size} bytes"
        )
