"""``discs.json``: the disc geometry a reader placed (input and output of the ROI step).

Format (docs/reference/formats.md)::

    {"discs": [{"level": "L4-L5",
                "corners_ras_mm": {"AS": [x, y, z], "PS": ..., "AI": ..., "PI": ...},
                "outline_ras_mm": [[x, y, z], ...],
                "center_ras_mm": [x, y, z]}]}

Any one of corners, outline or centre suffices. Optional per-disc fields: ``slice``,
``pfirrmann``, ``vertebra_corners_ras_mm``, ``method`` (alias ``made_by``), ``reader``,
``created``, ``series``. A ``rois.json`` is read as well (its discs carry the same geometry).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from discT2.errors import RoiError
from discT2.io.nifti import _json_default
from discT2.roi.geometry import DiscGeometry

__all__ = ["discs_from_json", "load_discs", "save_discs"]


def discs_from_json(doc: Any, *, where: str = "discs.json") -> list[DiscGeometry]:
    """Disc geometries from a parsed ``discs.json`` document.

    Raises
    ------
    RoiError
        No ``"discs"`` list, a bad entry, or the same level twice; the message names ``where``.
    """
    if isinstance(doc, list):
        entries = doc
    elif isinstance(doc, dict) and isinstance(doc.get("discs"), list):
        entries = doc["discs"]
    else:
        raise RoiError(f'{where}: expected {{"discs": [...]}}, a list of disc objects')
    discs = [
        DiscGeometry.from_dict(entry, where=f"{where}, disc {i + 1}")
        for i, entry in enumerate(entries)
    ]
    levels = [d.level for d in discs]
    dup = sorted({lv for lv in levels if levels.count(lv) > 1})
    if dup:
        raise RoiError(f"{where}: level(s) {', '.join(dup)} given more than once")
    return discs


def load_discs(path: str | os.PathLike) -> list[DiscGeometry]:
    """Read disc geometry from a ``discs.json`` (or a ``rois.json``, or a folder holding one).

    Parameters
    ----------
    path : path-like
        The file, or a folder with ``discs.json`` or ``rois.json``.

    Returns
    -------
    list of DiscGeometry
        In file order.

    Raises
    ------
    RoiError
        Missing file, invalid JSON, or an unusable entry (the message names the file and disc).
    """
    path = Path(path)
    if path.is_dir():
        for name in ("discs.json", "rois.json"):
            if (path / name).is_file():
                path = path / name
                break
        else:
            raise RoiError(f"{path}: folder has no discs.json or rois.json")
    if not path.is_file():
        raise RoiError(f"{path}: no such discs file")
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RoiError(f"{path}: not readable JSON ({exc})") from exc
    return discs_from_json(doc, where=str(path))


def save_discs(discs: Iterable[DiscGeometry], path: str | os.PathLike) -> Path:
    """Write disc geometry as ``discs.json`` (atomically: a reader never sees half a file).

    Parameters
    ----------
    discs : iterable of DiscGeometry
        The discs to write, in order.
    path : path-like
        The ``discs.json`` to write.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    doc = {"discs": [d.to_dict() for d in discs]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    os.replace(tmp, path)
    return path
