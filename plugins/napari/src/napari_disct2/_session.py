"""The disc geometry a reader places on one exam, and what discT2 makes of it.

A :class:`DiscSession` keeps one :class:`~discT2.DiscGeometry` per level, the way the reader left
it. After every edit it calls the library: :func:`discT2.place_rois` for the five ROIs of every
disc, :func:`discT2.measure` for their T2, and :func:`discT2.save_discs` for the autosave, so that
a crash loses nothing. No Qt here: the widgets and the tests drive the same object.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from discT2 import (
    DiscGeometry,
    DiscROIs,
    RoiError,
    detect_discs,
    grow_disc,
    load_discs,
    measure,
    order_corners,
    place_rois,
    save_discs,
)
from discT2.roi import LEVELS
from discT2.roi.geometry import now_iso

if TYPE_CHECKING:
    from napari_disct2._exam import Exam

__all__ = ["AUTOSAVE_ENV", "DiscSession", "autosave_root"]

logger = logging.getLogger(__name__)

#: Environment variable naming the autosave folder (default: the user's data folder).
AUTOSAVE_ENV = "NAPARI_DISCT2_AUTOSAVE"

#: QA keys that describe a disc's history and survive a reader's edit.
_HISTORY_QA = (
    "registration",
    "propagated_from",
    "auto",
    "grown",
    "derived_from",
    "pfirrmann_graded",
)


def autosave_root() -> Path:
    """Where sessions are autosaved: ``$NAPARI_DISCT2_AUTOSAVE``, else the user's data folder."""
    env = os.environ.get(AUTOSAVE_ENV)
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "napari-discT2" / "autosave"


class DiscSession:
    """Disc geometry on one exam, placed and measured with the discT2 API after every change.

    Parameters
    ----------
    exam : Exam
        The exam (its series and/or T2 map and grid).
    reader : str
        Who places the discs; recorded in every disc's provenance.

    Attributes
    ----------
    discs : dict
        Level -> :class:`~discT2.DiscGeometry`, as the reader left it (placed discs carry the
        corners, slice and QA that :func:`~discT2.place_rois` gave them).
    rois : DiscROIs or None
        The placed ROIs (:func:`~discT2.place_rois`).
    table : pandas.DataFrame or None
        :func:`~discT2.measure` of the exam's T2 map in ``rois`` (None without a T2 map).
    failed : dict
        Level -> why it could not be placed.
    place_options : dict
        Options of :func:`~discT2.place_rois` (fractions, margins, slices).
    """

    def __init__(self, exam: Exam, *, reader: str = "") -> None:
        self.exam = exam
        self.reader = reader
        self.discs: dict[str, DiscGeometry] = {}
        self.rois: DiscROIs | None = None
        self.table: pd.DataFrame | None = None
        self.failed: dict[str, str] = {}
        self.place_options: dict[str, Any] = {}
        self.listeners: list[Callable[[], None]] = []
        self.restored_from: Path | None = None
        self._autosaved = False

    # ---------------------------------------------------------------- edits

    def set_corners(self, level: str, points_ras_mm: Any) -> DiscGeometry:
        """The reader's four corners of a disc, in any order (:func:`discT2.order_corners`).

        An outline the disc had is dropped: the geometry the reader edited last defines it.
        """
        return self._set(self.with_corners(level, points_ras_mm))

    def set_outline(self, level: str, outline_ras_mm: Any) -> DiscGeometry:
        """The reader's outline of a disc; its corners come from the outline when placed."""
        return self._set(self.with_outline(level, outline_ras_mm))

    def with_corners(self, level: str, points_ras_mm: Any) -> DiscGeometry:
        """The disc as it would be with these four corners (not applied)."""
        corners = order_corners(points_ras_mm, self.exam.frame.affine, where=f"disc {level}")
        return self._edited(level, corners_ras_mm=corners)

    def with_outline(self, level: str, outline_ras_mm: Any) -> DiscGeometry:
        """The disc as it would be with this outline (not applied)."""
        return self._edited(level, outline_ras_mm=np.asarray(outline_ras_mm, float))

    def apply(self, changes: Mapping[str, DiscGeometry | None]) -> None:
        """Set (a geometry) or delete (None) several discs, then place and measure once."""
        for level, disc in changes.items():
            if disc is None:
                self.discs.pop(level, None)
            else:
                self.discs[level] = disc
        self.update()

    def drop_outline(self, level: str) -> None:
        """Forget a disc's outline and keep its corners (a deleted outline polygon)."""
        disc = self.discs[level]
        if disc.outline_ras_mm is None:
            return
        self.apply({level: self.without_outline(level)})

    def without_outline(self, level: str) -> DiscGeometry | None:
        """The disc without its outline (None when the outline was all it had)."""
        disc = self.discs[level]
        if disc.corners_ras_mm is None:
            return None
        return replace(disc, outline_ras_mm=None, series=dict(disc.series), qa=dict(disc.qa))

    def grow(self, level: str, click_ras_mm: Any, *, slice: int | None = None) -> DiscGeometry:
        """Grow a disc from one click inside it (:func:`discT2.grow_disc`) and place it."""
        return self.put(self.grown(level, click_ras_mm, slice=slice))

    def grown(self, level: str, click_ras_mm: Any, *, slice: int | None = None) -> DiscGeometry:
        """The disc grown from a click (not applied; safe to call from a worker thread)."""
        image = self._image("grow a disc")
        return grow_disc(image, click_ras_mm, level, slice=slice, reader=self.reader)

    def put(self, disc: DiscGeometry) -> DiscGeometry:
        """Set one disc (a grown one keeps the Pfirrmann grade the level had) and place it."""
        previous = self.discs.get(disc.level)
        if previous is not None and previous.pfirrmann is not None and disc.pfirrmann is None:
            disc = replace(
                disc, pfirrmann=previous.pfirrmann, series=dict(disc.series), qa=dict(disc.qa)
            )
        return self._set(disc)

    def detect(self, *, slice: int | None = None, **options: Any) -> tuple[list[str], list[str]]:
        """Find the discs of a slice automatically and add them (see :meth:`add_detected`)."""
        return self.add_detected(self.detected(slice=slice, **options))

    def detected(self, *, slice: int | None = None, **options: Any) -> list[DiscGeometry]:
        """The discs :func:`discT2.detect_discs` finds (not applied; safe in a worker thread)."""
        return detect_discs(self._image("detect discs"), slice=slice, reader=self.reader, **options)

    def add_detected(self, found: Iterable[DiscGeometry]) -> tuple[list[str], list[str]]:
        """Add automatically found discs; the levels the reader already placed are kept.

        Returns
        -------
        added, kept : list of str
            Levels added, and levels found that the reader had already placed.
        """
        found = list(found)
        added = [d.level for d in found if d.level not in self.discs]
        kept = [d.level for d in found if d.level in self.discs]
        self.apply({d.level: d for d in found if d.level in added})
        return added, kept

    def remove(self, level: str) -> None:
        """Delete a disc."""
        if self.discs.pop(level, None) is not None:
            self.update()

    def clear(self) -> None:
        """Delete every disc."""
        self.discs.clear()
        self.update()

    def set_pfirrmann(self, level: str, grade: int | None) -> None:
        """The reader's Pfirrmann grade of a disc (1..5, or None).

        Who graded it, and when, goes to ``qa["pfirrmann_graded"]`` (the disc's ``reader`` stays
        whoever placed it).
        """
        disc = self.discs[level]
        qa = dict(disc.qa)
        qa["pfirrmann_graded"] = {"reader": self.reader, "time": now_iso()}
        # replace() validates the grade (DiscGeometry refuses anything but 1..5 or None).
        self.discs[level] = replace(disc, pfirrmann=grade, series=dict(disc.series), qa=qa)
        self.update()

    def accept(self, level: str) -> None:
        """The reader accepts a disc as placed (after review of an automatic or propagated one).

        Recorded in ``qa["reviewed"]`` with the reader and time; the registration-review flag
        is cleared.
        """
        disc = self.discs[level]
        qa = dict(disc.qa)
        qa["reviewed"] = {"status": "accepted", "reader": self.reader, "time": now_iso()}
        flags = [f for f in qa.get("flags", []) if f != "registration_review"]
        if flags:
            qa["flags"] = flags
        else:
            qa.pop("flags", None)
        self.discs[level] = replace(disc, qa=qa, series=dict(disc.series))
        self.update()

    def replace_all(self, discs: Iterable[DiscGeometry]) -> None:
        """Replace the whole geometry (loading a file, propagating)."""
        self.discs = {}
        for disc in discs:
            self.discs[disc.level] = disc
        self.update()

    def adopt(self, rois: DiscROIs) -> None:
        """Take over ROIs placed elsewhere (a file, :func:`discT2.propagate`) as they are."""
        self.discs = {d.level: d for d in rois.discs}
        self.place_options = dict(rois.options)
        self.failed = {f["level"]: f["error"] for f in rois.failed}
        self.rois = rois
        self.table = self._measure(rois)
        self._after_change()

    # ---------------------------------------------------------------- files

    def load(self, path: str | os.PathLike) -> list[str]:
        """Read ``discs.json`` or ``rois.json`` (or a folder with one) and place it.

        Returns
        -------
        list of str
            The levels read.
        """
        discs = load_discs(path)
        self.replace_all(discs)
        return [d.level for d in discs]

    def save(self, folder: str | os.PathLike) -> dict[str, Path]:
        """Write ``rois.json``, ``rois.nii.gz`` and ``discs.json`` into ``folder``.

        The same files as ``discT2 rois``. ``discs.json`` also keeps discs that could not be
        placed, so that nothing the reader drew is lost.
        """
        if self.rois is None:
            raise RoiError("nothing to save yet: place at least one disc")
        folder = Path(folder)
        written = self.rois.save(folder)
        written["discs"] = save_discs(self._ordered(), folder / "discs.json")
        return written

    @property
    def autosave_path(self) -> Path:
        """This exam's autosave ``discs.json``."""
        return autosave_root() / self.exam.key / "discs.json"

    def restore(self) -> list[str]:
        """Load the autosave of this exam when the session is empty.

        Returns
        -------
        list of str
            The levels restored (none when there is no autosave or the session has discs).
        """
        path = self.autosave_path
        if self.discs or not path.is_file():
            return []
        discs = load_discs(path)
        if not discs:
            return []
        self.restored_from = path
        self.replace_all(discs)
        return [d.level for d in discs]

    # ---------------------------------------------------------------- placing

    def update(self) -> None:
        """Place every disc and measure, autosave, and tell the listeners."""
        discs = self._ordered()
        if discs:
            rois = place_rois(
                self._image("place ROIs"),
                discs,
                reader=self.reader,
                on_error="flag",
                **self.place_options,
            )
            self.failed = {f["level"]: f["error"] for f in rois.failed}
            for placed in rois.discs:
                self.discs[placed.level] = placed
            self.rois = rois
            self.table = self._measure(rois)
        else:
            self.rois, self.table, self.failed = None, None, {}
        self._after_change()

    def _after_change(self) -> None:
        self._autosave()
        for listener in list(self.listeners):
            listener()

    def _measure(self, rois: DiscROIs) -> pd.DataFrame | None:
        t2map = self.exam.t2map
        if t2map is None:
            return None
        return measure(t2map, rois)

    def _autosave(self) -> None:
        path = self.autosave_path
        try:
            if not self._autosaved and path.is_file() and self.restored_from != path:
                # Another session's autosave of this exam: keep it beside, never overwrite it.
                stamp = now_iso().replace(":", "").replace("+", "p")
                kept, n = path.with_name(f"discs-{stamp}.json"), 1
                while kept.exists():
                    kept, n = path.with_name(f"discs-{stamp}-{n}.json"), n + 1
                path.rename(kept)
            self._autosaved = True
            save_discs(self._ordered(), path)
            info = {"source": self.exam.source, "exam": self.exam.name, "updated": now_iso()}
            (path.parent / "exam.json").write_text(json.dumps(info, indent=2) + "\n")
        except OSError as exc:  # never stop the reader's work over the autosave
            logger.warning("autosave to %s failed: %s", path, exc)

    # ---------------------------------------------------------------- helpers

    def _image(self, what: str) -> Any:
        image = self.exam.image
        if image is None:
            raise RoiError(f"{self.exam.name}: no images to {what} on; open the series or fit it")
        return image

    def _ordered(self) -> list[DiscGeometry]:
        return [self.discs[lv] for lv in LEVELS if lv in self.discs]

    def _edited(self, level: str, **geometry: Any) -> DiscGeometry:
        """A disc the reader drew or edited: ``drawn`` by this reader, with its history."""
        previous = self.discs.get(level)
        qa: dict[str, Any] = {}
        pfirrmann = None
        if previous is not None:
            pfirrmann = previous.pfirrmann
            qa = {k: v for k, v in previous.qa.items() if k in _HISTORY_QA}
            if previous.method != "drawn" or previous.reader != self.reader:
                qa["derived_from"] = {
                    "method": previous.method,
                    "reader": previous.reader,
                    "created": previous.created,
                }
        return DiscGeometry(
            level,
            pfirrmann=pfirrmann,
            method="drawn",
            reader=self.reader,
            qa=qa,
            **geometry,
        )

    def _set(self, disc: DiscGeometry) -> DiscGeometry:
        self.discs[disc.level] = disc
        self.update()
        return self.discs[disc.level]


def table_rows(table: pd.DataFrame | None, levels: Iterable[str] | None = None) -> list[dict]:
    """Rows of a :func:`discT2.measure` table for display: level, ROI, n, mean, median, SD."""
    if table is None:
        return []
    wanted = None if levels is None else set(levels)
    rows = []
    for rec in table.to_dict("records"):
        if wanted is not None and rec["level"] not in wanted:
            continue
        rows.append(
            {
                "level": rec["level"],
                "roi": rec["roi"],
                "n": int(rec["n_voxels"]),
                "mean": float(rec["t2_mean_ms"]),
                "median": float(rec["t2_median_ms"]),
                "sd": float(rec["t2_sd_ms"]),
            }
        )
    return rows


def flags_of(disc: DiscGeometry) -> list[str]:
    """QA flags of a disc."""
    return list(disc.qa.get("flags", []))


def review_status(disc: DiscGeometry) -> str:
    """``accepted``, ``adjusted`` (edited by a reader after propagation/detection/growing) or
    ``to review`` (automatic or propagated, not yet seen), else ``drawn``."""
    reviewed = disc.qa.get("reviewed")
    if isinstance(reviewed, Mapping) and reviewed.get("status") == "accepted":
        return "accepted"
    if disc.method == "drawn":
        derived = disc.qa.get("derived_from")
        return "adjusted" if isinstance(derived, Mapping) else "drawn"
    return "to review"
