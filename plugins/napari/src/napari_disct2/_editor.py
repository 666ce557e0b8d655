"""The layers a reader edits on one exam, kept in step with its :class:`DiscSession`.

Four layers per exam, all on the exam's display frame:

- ``corners`` (Points): four per disc, feature ``level``; the reader clicks or drags them.
- ``outlines`` (Shapes): at most one polygon per disc, feature ``level``.
- ``clicks`` (Points): one click inside a disc grows it (:func:`discT2.grow_disc`).
- ``ROIs`` (Labels): the placed ROIs, ``10 n + k``; drawn from the geometry, never painted.

A reader's edit of the corners or outlines reaches the session (which places and measures with
the library); the session's result is written back into the layers. Edits are read when napari
reports them finished (a point dropped, a polygon closed), so the table follows every change.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from discT2 import DiscT2Error
from discT2.roi.geometry import CORNERS
from napari_disct2._exam import Exam, layers_of

if TYPE_CHECKING:
    import napari

__all__ = ["ExamEditor", "editor_for"]

logger = logging.getLogger(__name__)

_FINISHED = ("added", "removed", "changed")
_CORNER_COLOR = "#ffd700"
_OUTLINE_COLOR = "#00e5ff"


def editor_for(viewer: napari.Viewer, exam: Exam) -> ExamEditor:
    """The editor of an exam in a viewer (made, with its layers, on first use)."""
    editors: dict[int, ExamEditor] = exam.__dict__.setdefault("_editors", {})
    editor = editors.get(id(viewer))
    if editor is None or editor.viewer is not viewer or not editor.alive:
        if editor is not None:
            editor.close()
        editor = ExamEditor(viewer, exam)
        editors[id(viewer)] = editor
    return editor


class ExamEditor:
    """Binds an exam's disc session to its napari layers.

    Parameters
    ----------
    viewer : napari.Viewer
    exam : Exam

    Attributes
    ----------
    level : str
        The level new corners, outlines and clicks belong to.
    grow_runner : callable
        ``grow_runner(level, click_ras_mm, slice)`` grows a disc; by default synchronously
        through the session, the widgets run it in a thread worker.
    notices : list of callable
        Called with a message for the reader (refused clicks, incomplete corners).
    """

    def __init__(self, viewer: napari.Viewer, exam: Exam) -> None:
        self.viewer = viewer
        self.exam = exam
        self.session = exam.session
        self.level = "L4-L5"
        self.notices: list[Callable[[str], None]] = []
        self.grow_runner: Callable[[str, np.ndarray, int], None] = self._grow_now
        self._syncing = False
        self._pending: list[Callable[[], None]] = []
        self.labels = self._ensure("rois", self._add_labels)
        self.corners = self._ensure("corners", self._add_points_layer)
        self.outlines = self._ensure("outlines", self._add_shapes_layer)
        self.clicks = self._ensure("clicks", self._add_clicks_layer)
        self.corners.events.data.connect(self._on_corners)
        self.outlines.events.data.connect(self._on_outlines)
        self.clicks.events.data.connect(self._on_clicks)
        self.labels.events.paint.connect(self._on_paint)
        self.session.listeners.append(self.refresh)
        self.set_level(self.level)
        self.refresh()

    @property
    def alive(self) -> bool:
        """True while all the editor's layers are still in the viewer."""
        layers = (self.labels, self.corners, self.outlines, self.clicks)
        return all(layer in self.viewer.layers for layer in layers)

    def close(self) -> None:
        """Disconnect from the session and layers (the layers stay)."""
        if self.refresh in self.session.listeners:
            self.session.listeners.remove(self.refresh)
        for emitter, handler in (
            (self.corners.events.data, self._on_corners),
            (self.outlines.events.data, self._on_outlines),
            (self.clicks.events.data, self._on_clicks),
            (self.labels.events.paint, self._on_paint),
        ):
            emitter.disconnect(handler)
        self.notices.clear()

    # ---------------------------------------------------------------- modes

    def set_level(self, level: str) -> None:
        """New corners, outlines and clicks belong to this level."""
        self.level = level
        for layer in (self.corners, self.outlines, self.clicks):
            layer.feature_defaults = {"level": level, "corner": "", "text": ""}

    def start(self, mode: str) -> None:
        """Select the layer and napari mode for ``corners``, ``outline`` or ``grow``."""
        layer, napari_mode = {
            "corners": (self.corners, "add"),
            "outline": (self.outlines, "add_polygon"),
            "grow": (self.clicks, "add"),
        }[mode]
        self.set_level(self.level)
        for other in (self.corners, self.clicks):
            if other is not layer:
                other.mode = "pan_zoom"
        if self.outlines is not layer:
            self.outlines.mode = "pan_zoom"
        layer.visible = True
        self.viewer.layers.selection.active = layer
        layer.mode = napari_mode

    def current_slice(self) -> int:
        """The slice of this exam on screen."""
        return self.exam.world_slice(np.asarray(self.viewer.dims.point))

    def show_slice(self, k: int) -> None:
        """Move the viewer to slice k of this exam."""
        axis = self.viewer.dims.ndim - 3
        self.viewer.dims.set_point(axis, self.exam.slice_world(int(k)))

    def apply_offset(self) -> None:
        """Move every layer of the exam to ``exam.translate`` (after a change of offset)."""
        for layer in layers_of(self.viewer, self.exam):
            translate = tuple(self.exam.translate)
            layer.translate = (0.0,) * (layer.ndim - 3) + translate

    # ---------------------------------------------------------------- session -> layers

    def refresh(self) -> None:
        """Write the session's discs and ROIs into the layers."""
        self._syncing = True
        try:
            self._write_labels()
            self._write_corners()
            self._write_outlines()
        finally:
            self._syncing = False

    def _write_labels(self) -> None:
        rois = self.session.rois
        labels = np.zeros(self.exam.frame.shape, np.uint8) if rois is None else rois.labels
        self.labels.data = np.ascontiguousarray(self.exam.frame.to_display(labels))

    def _write_corners(self) -> None:
        coords, levels, names = [], [], []
        for disc in self.session.discs.values():
            if disc.corners_ras_mm is None:
                continue
            for name in CORNERS:
                coords.append(self.exam.ras_to_layer(disc.corners_ras_mm[name])[0])
                levels.append(disc.level)
                names.append(name)
        data = np.array(coords) if coords else np.empty((0, 3))
        features = pd.DataFrame(
            {
                "level": pd.Series(levels, dtype=object),
                "corner": pd.Series(names, dtype=object),
                # The level next to its anterior-superior corner; the corner names stay features.
                "text": pd.Series(
                    [lv if c == "AS" else "" for lv, c in zip(levels, names, strict=True)],
                    dtype=object,
                ),
            }
        )
        self.corners.data = data
        self.corners.features = features
        self.corners.refresh()

    def _write_outlines(self) -> None:
        shapes, levels = [], []
        for disc in self.session.discs.values():
            if disc.outline_ras_mm is not None:
                shapes.append(self.exam.ras_to_layer(disc.outline_ras_mm))
                levels.append(disc.level)
        self.outlines.data = []
        if shapes:
            self.outlines.add_polygons(shapes)
        self.outlines.features = pd.DataFrame(
            {
                "level": pd.Series(levels, dtype=object),
                "corner": pd.Series([""] * len(levels), dtype=object),
                "text": pd.Series([""] * len(levels), dtype=object),
            }
        )
        self.outlines.refresh()

    # ---------------------------------------------------------------- layers -> session

    def _on_corners(self, event: Any) -> None:
        if self._syncing or str(getattr(event, "action", "changed")) not in _FINISHED:
            return
        self._later(self._read_corners)

    def _on_outlines(self, event: Any) -> None:
        if self._syncing or str(getattr(event, "action", "changed")) not in _FINISHED:
            return
        self._later(self._read_outlines)

    @property
    def pending(self) -> bool:
        """True while a reader's edit waits to be read (it is read once napari has finished)."""
        return bool(self._pending)

    def _later(self, read: Callable[[], None]) -> None:
        """Read an edit after napari has finished handling it (a polygon is closed only then)."""
        from qtpy.QtCore import QTimer

        if read in self._pending:
            return
        self._pending.append(read)
        QTimer.singleShot(0, self._flush)

    def _flush(self) -> None:
        reads, self._pending = self._pending, []
        for read in reads:
            if self.alive:
                self._run(read)

    def _on_clicks(self, event: Any) -> None:
        if self._syncing or str(getattr(event, "action", "")) != "added":
            return
        if len(self.clicks.data) == 0:
            return
        point = np.asarray(self.clicks.data[-1])
        level = str(self.clicks.features["level"].iloc[-1])
        k = int(np.clip(np.rint(point[0]), 0, self.exam.n_slices - 1))
        click = self.exam.layer_to_ras(point)[0]

        def grow() -> None:
            self._syncing = True
            try:
                self.clicks.data = np.empty((0, 3))
            finally:
                self._syncing = False
            self.grow_runner(level, click, k)

        self._later(grow)

    def _on_paint(self, event: Any) -> None:
        if self._syncing:
            return
        self.notify("The ROIs follow the corners and outlines; painting is not used.")
        self._later(self.refresh)  # after napari has written the paint

    def _grow_now(self, level: str, click: np.ndarray, k: int) -> None:
        self.session.grow(level, click, slice=k)

    def _read_corners(self) -> None:
        data = np.asarray(self.corners.data)
        levels = self.corners.features["level"].astype(str).to_numpy()
        if len(levels) != len(data):
            return
        session = self.session
        changes: dict[str, Any] = {}
        for level in sorted(set(levels) | set(session.discs)):
            mine = data[levels == level]
            disc = session.discs.get(level)
            if len(mine) == 0:
                if disc is not None and disc.corners_ras_mm is not None:
                    changes[level] = None  # all its corners deleted: the disc is deleted
                continue
            if len(mine) != 4:
                s = "s" if len(mine) != 1 else ""
                self.notify(
                    f"{level}: {len(mine)} corner point{s}; a disc needs four (AS, PS, AI, PI, "
                    "in any order)"
                )
                continue
            ras = self.exam.layer_to_ras(mine)
            if (
                disc is not None
                and disc.corners_ras_mm is not None
                and _same_points(ras, np.stack([disc.corners_ras_mm[c] for c in CORNERS]))
            ):
                continue
            try:
                changes[level] = session.with_corners(level, ras)
            except DiscT2Error as exc:
                self.notify(str(exc))
        if changes:
            session.apply(changes)

    def _read_outlines(self) -> None:
        session = self.session
        polygons = list(self.outlines.data)
        levels = self.outlines.features["level"].astype(str).tolist()
        if len(levels) != len(polygons):  # napari dropped a polygon of < 3 vertices
            self.notify("An outline needs at least three points.")
            return
        changes: dict[str, Any] = {}
        for level in sorted(set(levels) | set(session.discs)):
            mine = [p for p, lv in zip(polygons, levels, strict=True) if lv == level]
            disc = session.discs.get(level)
            if not mine:
                if disc is not None and disc.outline_ras_mm is not None:
                    changes[level] = session.without_outline(level)
                continue
            if len(mine) > 1:
                self.notify(f"{level}: {len(mine)} outlines; delete all but one")
                continue
            ras = self.exam.layer_to_ras(np.asarray(mine[0]))
            if (
                disc is not None
                and disc.outline_ras_mm is not None
                and _same_points(ras, disc.outline_ras_mm)
            ):
                continue
            changes[level] = session.with_outline(level, ras)
        if changes:
            session.apply(changes)

    # ---------------------------------------------------------------- helpers

    def notify(self, message: str) -> None:
        """Tell the reader (through the widgets' status lines)."""
        logger.info("%s", message)
        for notice in list(self.notices):
            notice(message)

    def _run(self, action: Callable[[], None]) -> None:
        """Apply an edit; a refusal from the library is shown and the layers reset."""
        try:
            action()
        except DiscT2Error as exc:
            self.notify(str(exc))
            self.refresh()

    def _ensure(self, role: str, make: Callable[[], Any]) -> Any:
        existing = layers_of(self.viewer, self.exam, role)
        return existing[0] if existing else make()

    def _kwargs(self, role: str) -> dict[str, Any]:
        meta = self.exam._meta(role)
        keys = ("name", "scale", "translate", "units", "axis_labels", "metadata")
        return {k: meta[k] for k in keys}

    def _add_labels(self) -> Any:
        data, meta, _ = self.exam.labels_layer()
        return self.viewer.add_labels(data, **meta)

    def _empty_features(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "level": pd.Series([], dtype=object),
                "corner": pd.Series([], dtype=object),
                "text": pd.Series([], dtype=object),
            }
        )

    def _point_size(self) -> float:
        # About one pixel across: small enough not to hide the disc's edges (world mm).
        return float(1.2 * min(self.exam.scale[1:]))

    def _add_points_layer(self) -> Any:
        return self.viewer.add_points(
            np.empty((0, 3)),
            ndim=3,
            features=self._empty_features(),
            size=self._point_size(),
            face_color=_CORNER_COLOR,
            border_color="black",
            text={
                "string": "{text}",
                "color": _CORNER_COLOR,
                "size": 8,
                "anchor": "lower_right",
            },
            **self._kwargs("corners"),
        )

    def _add_clicks_layer(self) -> Any:
        return self.viewer.add_points(
            np.empty((0, 3)),
            ndim=3,
            features=self._empty_features(),
            size=self._point_size(),
            face_color="white",
            symbol="cross",
            **self._kwargs("clicks"),
        )

    def _add_shapes_layer(self) -> Any:
        return self.viewer.add_shapes(
            None,
            ndim=3,
            features=self._empty_features(),
            shape_type="polygon",
            edge_color=_OUTLINE_COLOR,
            face_color="transparent",
            edge_width=float(0.4 * min(self.exam.scale[1:])),
            **self._kwargs("outlines"),
        )


def _same_points(a: np.ndarray, b: np.ndarray, tol_mm: float = 1e-3) -> bool:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return False
    # Corners may come back in another order: compare as sets.
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)
    return bool(np.all(d.min(axis=1) < tol_mm) and np.all(d.min(axis=0) < tol_mm))
