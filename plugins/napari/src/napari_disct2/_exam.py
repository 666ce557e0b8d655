"""One exam in the viewer: its discT2 objects, how it is displayed, and its layers.

An :class:`Exam` holds the multi-echo series and/or the fitted :class:`~discT2.T2Map` of one
acquisition, its :class:`~discT2.DisplayFrame` (slices, rows superior to inferior, columns
anterior to posterior, voxel sizes as layer scale) and the disc session the widgets edit. Every
layer made from an exam carries ``metadata["discT2"] = {"exam": exam, "role": ...}``, so widgets
find the exam behind a layer, and its other layers, without guessing from names.

Layer coordinates are display indices (:class:`~discT2.DisplayFrame`), scaled by the voxel size;
world coordinates are patient millimetres along the display axes, so two exams of one patient
overlap up to how the patient moved. A click goes back to RAS mm through
:meth:`Exam.layer_to_ras` (exact: permutations and flips only).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from discT2 import DisplayFrame, MultiEchoSeries, T2Map
from discT2.roi import LEVELS, ROI_NAMES, label_value

if TYPE_CHECKING:
    import napari

    from napari_disct2._session import DiscSession

__all__ = ["ROLE_NAMES", "Exam", "exam_of", "exams_in", "layers_of", "role_of"]

#: Layer name suffix of each role.
ROLE_NAMES: dict[str, str] = {
    "echoes": "echoes",
    "t2": "T2 (ms)",
    "s0": "S0",
    "t2_sd": "T2 SD (ms)",
    "rois": "ROIs",
    "corners": "corners",
    "outlines": "outlines",
    "clicks": "clicks",
}

_KEY = "discT2"
#: Names of the display axes (slices; rows superior to inferior; columns anterior to posterior).
AXIS_LABELS = ("slice", "S-I", "A-P")


class Exam:
    """An acquisition shown in napari: series and/or T2 map, on one grid.

    Parameters
    ----------
    name : str
        Shown in layer names and widgets.
    series : MultiEchoSeries, optional
        The echo images.
    t2map : T2Map, optional
        The fitted maps (on the series' grid).
    grid : object, optional
        Anything with ``shape`` and ``affine`` (e.g. a :class:`~discT2.DiscROIs`) when there is
        neither series nor map.
    source : str
        Where it was read from.
    """

    def __init__(
        self,
        name: str,
        *,
        series: MultiEchoSeries | None = None,
        t2map: T2Map | None = None,
        grid: Any = None,
        source: str = "",
    ) -> None:
        base = series if series is not None else t2map if t2map is not None else grid
        if base is None:
            raise ValueError("an exam needs a series, a T2 map or a grid")
        self.name = name
        self.series = series
        self._t2map: T2Map | None = None
        self.source = str(source)
        self.frame = DisplayFrame.of(base)
        #: Extra world offset of this exam's layers (mm, display axes): side-by-side review.
        self.offset_mm = np.zeros(3)
        self._session: DiscSession | None = None
        if t2map is not None:
            self.t2map = t2map

    # ---------------------------------------------------------------- discT2 objects

    @property
    def t2map(self) -> T2Map | None:
        """The fitted maps, or None before fitting."""
        return self._t2map

    @t2map.setter
    def t2map(self, value: T2Map | None) -> None:
        if value is not None and (
            tuple(value.shape) != tuple(self.frame.shape)
            or not np.allclose(value.affine, self.frame.affine, atol=1e-4)
        ):
            raise ValueError(f"{self.name}: the T2 map is not on the exam's grid")
        self._t2map = value

    @property
    def image(self) -> Any:
        """What ROIs are placed on and discs grown from: the echo images, else the T2 map.

        The same choice as ``discT2 rois`` given the DICOM folder (or, without it, the map).
        """
        if self.series is not None:
            return self.series
        return self._t2map

    @property
    def session(self) -> DiscSession:
        """The disc geometry placed on this exam (created on first use)."""
        if self._session is None:
            from napari_disct2._session import DiscSession

            self._session = DiscSession(self)
        return self._session

    @property
    def key(self) -> str:
        """A stable, non-identifying key of the acquisition (for the autosave folder)."""
        meta = self.series.meta if self.series is not None else {}
        if not meta and self._t2map is not None:
            meta = self._t2map.meta
        ident = str(meta.get("series_instance_uid") or self.source or self.name)
        return hashlib.sha256(ident.encode()).hexdigest()[:16]

    @property
    def n_slices(self) -> int:
        """Number of display slices."""
        return int(self.frame.display_shape[0])

    @property
    def mid_slice(self) -> int:
        """The middle slice: the midline of a sagittal spine series (as ``detect_discs``)."""
        return self.n_slices // 2

    # ---------------------------------------------------------------- coordinates

    @property
    def scale(self) -> np.ndarray:
        """Layer scale (mm per display index), shape (3,)."""
        return self.frame.scale_mm

    @property
    def translate(self) -> np.ndarray:
        """Layer translate (mm), shape (3,), including the side-by-side offset."""
        return self.frame.translate_mm + self.offset_mm

    def layer_to_ras(self, points: np.ndarray, *, snap_slice: bool = True) -> np.ndarray:
        """Layer data coordinates (display indices, (N, 3)) to RAS mm.

        With ``snap_slice`` the slice coordinate is rounded to the slice on screen: a click lands
        on the slice the reader sees, whatever the slider's position between two slices.
        """
        d = np.array(points, dtype=float, ndmin=2)[:, -3:]
        if snap_slice:
            d[:, 0] = np.clip(np.rint(d[:, 0]), 0, self.n_slices - 1)
        return self.frame.display_to_ras(d)

    def ras_to_layer(self, points_ras_mm: np.ndarray) -> np.ndarray:
        """RAS mm points (N, 3) to layer data coordinates."""
        return self.frame.ras_to_display(np.array(points_ras_mm, dtype=float, ndmin=2))

    def world_slice(self, world_point: np.ndarray) -> int:
        """The slice of this exam on screen at a viewer dims point (world coordinates)."""
        point = np.asarray(world_point, float)
        if point.size < 3:  # the viewer has no 3-D layer (any more)
            return self.mid_slice
        w = float(point[-3])
        k = (w - self.translate[0]) / self.scale[0]
        return int(np.clip(np.rint(k), 0, self.n_slices - 1))

    def slice_world(self, k: int) -> float:
        """World coordinate of slice k along the viewer's slice axis."""
        return float(self.translate[0] + self.scale[0] * k)

    # ---------------------------------------------------------------- layers

    def _meta(self, role: str, **extra: Any) -> dict[str, Any]:
        return {
            "name": f"{self.name} {ROLE_NAMES[role]}",
            "scale": tuple(self.scale),
            "translate": tuple(self.translate),
            "units": ("mm", "mm", "mm"),
            "axis_labels": AXIS_LABELS,
            "metadata": {_KEY: {"exam": self, "role": role}, **extra},
        }

    def series_layer(self) -> tuple[np.ndarray, dict[str, Any], str]:
        """The echo stack as a 4-D image (echo, slice, row, column)."""
        if self.series is None:
            raise ValueError(f"{self.name} has no echo images")
        data = np.moveaxis(self.frame.to_display(self.series.data), 3, 0)
        meta = self._meta("echoes", echo_times_ms=self.series.echo_times_ms.tolist())
        meta["metadata"]["series_meta"] = _safe_meta(self.series.meta)
        meta["scale"] = (1.0, *meta["scale"])
        meta["translate"] = (0.0, *meta["translate"])
        meta["units"] = ("pixel", *meta["units"])
        meta["axis_labels"] = ("echo", *meta["axis_labels"])
        meta.update(colormap="gray", blending="additive")
        return data, meta, "image"

    def map_layers(self) -> list[tuple[np.ndarray, dict[str, Any], str]]:
        """T2 (navia, ms), S0 and the T2 uncertainty as image layers (S0 and SD hidden)."""
        t2map = self._t2map
        if t2map is None:
            raise ValueError(f"{self.name} has no T2 map; fit it first")
        out = []
        t2 = self.frame.to_display(t2map.t2_ms)
        meta = self._meta("t2", provenance=dict(t2map.provenance))
        meta.update(
            colormap=t2_colormap(),
            contrast_limits=t2_range_ms(),
            blending="translucent_no_depth",
        )
        out.append((t2, meta, "image"))
        for role, arr in (("s0", t2map.s0), ("t2_sd", t2map.t2_sd_ms)):
            if arr is None or not np.isfinite(arr).any():
                continue
            data = self.frame.to_display(arr)
            finite = data[np.isfinite(data)]
            hi = float(np.percentile(finite, 99)) if finite.size else 1.0
            m = self._meta(role)
            m.update(colormap="gray", visible=False, contrast_limits=(0.0, max(hi, 1e-6)))
            out.append((data, m, "image"))
        return out

    def labels_layer(self, labels: np.ndarray | None = None) -> tuple[np.ndarray, dict, str]:
        """The ROI labels (``10 n + k``) in display order, coloured per ROI."""
        if labels is None:
            labels = np.zeros(self.frame.shape, dtype=np.uint8)
        data = np.ascontiguousarray(self.frame.to_display(labels))
        meta = self._meta("rois")
        meta.update(colormap=roi_colormap(), opacity=0.7, blending="translucent")
        return data, meta, "labels"


# -------------------------------------------------------------------- finding exams


def exam_of(layer: Any) -> Exam | None:
    """The exam behind a layer, or None."""
    info = getattr(layer, "metadata", {}).get(_KEY)
    return info.get("exam") if isinstance(info, dict) else None


def role_of(layer: Any) -> str | None:
    """The role of a layer of an exam (``t2``, ``rois``, ``corners``, ...), or None."""
    info = getattr(layer, "metadata", {}).get(_KEY)
    return info.get("role") if isinstance(info, dict) else None


def exams_in(viewer: napari.Viewer) -> list[Exam]:
    """The exams that have layers in the viewer, in layer order, each once."""
    seen: list[Exam] = []
    for layer in viewer.layers:
        exam = exam_of(layer)
        if exam is not None and all(exam is not e for e in seen):
            seen.append(exam)
    return seen


def layers_of(viewer: napari.Viewer, exam: Exam, role: str | None = None) -> list[Any]:
    """The viewer's layers of an exam (of one role when given)."""
    return [
        layer
        for layer in viewer.layers
        if exam_of(layer) is exam and (role is None or role_of(layer) == role)
    ]


# -------------------------------------------------------------------- looks


def t2_range_ms() -> tuple[float, float]:
    """Display range of T2 maps, the report figures' (annulus and nucleus both resolved)."""
    from discT2.report.figures import T2_RANGE_MS

    return tuple(T2_RANGE_MS)  # type: ignore[return-value]


def t2_colormap() -> Any:
    """Crameri's 'navia' as a napari colour map: the colour map of discT2's report figures."""
    from napari.utils.colormaps import Colormap

    from discT2.report.figures import T2_CMAP

    colors = T2_CMAP(np.linspace(0.0, 1.0, 256))
    return Colormap(colors=colors, name="navia", display_name="navia (T2)")


def roi_colormap() -> Any:
    """One colour per ROI (the report figures' outline colours), the same for every disc."""
    from napari.utils.colormaps import DirectLabelColormap

    from discT2.report.figures import ROI_COLORS

    colors: dict[int | None, Any] = {None: "transparent", 0: "transparent"}
    for level in LEVELS:
        for k, name in enumerate(ROI_NAMES, 1):
            colors[label_value(level, k)] = ROI_COLORS[name]
    return DirectLabelColormap(color_dict=colors)


def _safe_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Acquisition metadata for display: discT2's keys only (none identifies a patient)."""
    from discT2.series import META_KEYS

    return {k: v for k, v in meta.items() if k in META_KEYS and k != "source"}


def exam_name(path: str | Path) -> str:
    """A short exam name from a path: ``S01/baseline/dicom`` gives ``S01 baseline``."""
    p = Path(path)
    if p.name.lower() in ("dicom", "dcm", "nifti", "fit", "rois") and p.parent.name:
        parts = [p.parent.parent.name, p.parent.name]
        return " ".join(x for x in parts if x)
    name = p.name
    for suffix in (".nii.gz", ".nii", ".dcm", ".IMA"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or str(p)
