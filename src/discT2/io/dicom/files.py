"""Which files to read: a folder searched recursively, a list of files, or one file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from discT2.errors import InputError
from discT2.io._checks import file_problem

__all__ = ["collect_files"]

#: Extensions that are never DICOM; files with them are skipped without opening.
_NOT_DICOM = {
    ".nii", ".gz", ".json", ".txt", ".csv", ".tsv", ".xml", ".html", ".htm", ".pdf", ".png",
    ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".md", ".py", ".zip", ".tar", ".bz2",
    ".xz", ".7z", ".exe", ".dll", ".ini", ".log", ".mat", ".npy", ".npz", ".h5", ".bval",
    ".bvec", ".yaml", ".yml", ".sh", ".bat",
}  # fmt: skip


def collect_files(
    path: str | os.PathLike | Sequence[str | os.PathLike],
) -> tuple[Path, list[Path], dict[str, int]]:
    """List the candidate DICOM files of ``path``.

    Parameters
    ----------
    path : path-like or sequence of path-like
        A folder (searched recursively; hidden folders are skipped), one file, a DICOMDIR (its
        folder is searched), or a list of files and folders.

    Returns
    -------
    root : Path
        The folder or file named in messages (the common folder of a list).
    files : list of Path
        Files to try, in a stable order.
    skipped : dict
        Files left out without opening, counted by reason.

    Raises
    ------
    InputError
        A path that does not exist, or an empty list.
    """
    skipped: dict[str, int] = {}
    if isinstance(path, (str, os.PathLike)):
        items = [Path(path)]
    else:
        items = [Path(p) for p in path]
        if not items:
            raise InputError("an empty list of DICOM files was given")
    files: list[Path] = []
    for item in items:
        if item.is_dir():
            files.extend(_walk(item, skipped))
            continue
        problem = file_problem(item)
        if problem is not None:
            raise InputError(f"{item}: {problem}")
        if item.name.upper() == "DICOMDIR" and len(items) == 1:
            skipped["DICOMDIR"] = skipped.get("DICOMDIR", 0) + 1
            files.extend(_walk(item.parent, skipped, exclude=item))
        else:
            files.append(item)
    if len(items) == 1:
        root = items[0].parent if items[0].name.upper() == "DICOMDIR" else items[0]
    else:
        root = Path(os.path.commonpath([str(p.resolve()) for p in items]))
    seen: set[Path] = set()
    unique = []
    for f in files:
        resolved = f.resolve()
        if resolved not in seen:
            seen.add(resolved)
            unique.append(f)
    return root, unique, skipped


def _walk(folder: Path, skipped: dict[str, int], exclude: Path | None = None) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            f = Path(dirpath) / name
            if exclude is not None and f == exclude:
                continue
            if name.startswith("."):
                skipped["hidden file"] = skipped.get("hidden file", 0) + 1
            elif f.suffix.lower() in _NOT_DICOM:
                skipped["not DICOM"] = skipped.get("not DICOM", 0) + 1
            elif (problem := file_problem(f)) is not None:
                skipped[problem] = skipped.get(problem, 0) + 1
            else:
                out.append(f)
    return out
