"""Small file helpers of the runner: atomic writes, content digests, tidy-up of temporaries."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from discT2.errors import InputError
from discT2.io.nifti import _json_default

__all__ = [
    "file_sha256",
    "input_fingerprint",
    "remove_temporaries",
    "write_json",
    "write_text",
]

_CHUNK = 1 << 20


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` under a temporary name in the same folder, then rename (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def write_json(path: Path, doc: Any) -> Path:
    """Write a JSON document atomically (sorted keys are not imposed; order is kept)."""
    return write_text(path, json.dumps(doc, indent=2, default=_json_default) + "\n")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's content, hex."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _input_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    files = [path]
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            sidecar = path.with_name(name[: -len(suffix)] + ".json")
            if sidecar.is_file():
                files.append(sidecar)
    return files


def input_fingerprint(path: Path) -> dict[str, Any]:
    """Content digest of an exam's input (every file of a folder, or a file and its sidecar).

    Returns
    -------
    dict
        ``{"n_files": n, "bytes": total, "sha256": digest}``; the digest covers each file's path
        relative to ``path`` and its content, so renaming, adding or changing any file changes it.

    Raises
    ------
    InputError
        ``path`` does not exist, or a file cannot be read.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    files = _input_files(path)
    h = hashlib.sha256()
    total = 0
    base = path if path.is_dir() else path.parent
    for f in files:
        try:
            digest = file_sha256(f)
            size = f.stat().st_size
        except OSError as exc:
            raise InputError(f"{f}: cannot be read ({exc.strerror or exc})") from exc
        h.update(f"{f.relative_to(base).as_posix()}\0{size}\0{digest}\n".encode())
        total += size
    return {"n_files": len(files), "bytes": total, "sha256": h.hexdigest()}


def remove_temporaries(folder: Path, names: Iterable[str] = ()) -> None:
    """Remove the given files and any ``.<name>.<pid>.tmp*`` left by an interrupted write."""
    if not folder.is_dir():
        return
    for name in names:
        p = folder / name
        if p.is_file() or p.is_symlink():
            p.unlink()
    for p in folder.glob(".*.tmp*"):
        if p.is_file():
            p.unlink()
