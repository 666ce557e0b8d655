"""Figures of the report: T2 maps with the ROI outlines, per-disc trajectories, per-arm box plots.

Every function builds its own :class:`matplotlib.figure.Figure` (Agg canvas, no pyplot), so no
global state leaks between calls, threads or tests. T2 maps use the perceptually uniform, colour-
vision-deficiency-safe scientific map ``navia`` (Crameri, cmcrameri), recommended for relaxometry,
on a fixed ms scale so that visits and discs compare by colour.
"""

from __future__ import annotations

import importlib.util
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Colormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from discT2.errors import InputError, ShapeMismatchError
from discT2.report._names import FIVE_ROIS, level_rank, roi_rank
from discT2.report.trial import ENDPOINTS

__all__ = [
    "NAN_COLOR",
    "ROI_COLORS",
    "T2_CMAP",
    "T2_RANGE_MS",
    "figure_to_png",
    "plot_arm_boxes",
    "plot_t2_rois",
    "plot_trajectories",
    "render_rgba",
    "save_png",
]


def _navia() -> Colormap:
    """Crameri's 'navia' from the cmcrameri package's data, without importing ``cmcrameri.cm``.

    ``cmcrameri.cm`` imports pyplot (to register its maps), which would pull pyplot's global
    state and backend selection into every program that draws a report figure.
    """
    spec = importlib.util.find_spec("cmcrameri")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "cmaps" / "navia.txt"
        if path.is_file():
            return ListedColormap(np.loadtxt(path), name="navia")
    from cmcrameri import cm  # pragma: no cover - only if the package layout changes

    return cm.navia  # pragma: no cover


#: Colour map of T2 maps: Crameri's 'navia' (perceptually uniform, readable in grey scale).
T2_CMAP = _navia().with_extremes(bad=(0.5, 0.5, 0.5))
#: Default T2 display range (ms): annulus (~40-70 ms) and nucleus (~80-200 ms) both resolved.
T2_RANGE_MS: tuple[float, float] = (0.0, 200.0)
#: Colour of voxels without a T2 (failed or unfitted).
NAN_COLOR: tuple[float, float, float] = (0.5, 0.5, 0.5)
#: Outline colour per ROI, chosen far from every colour of 'navia' so the outlines stand out.
ROI_COLORS: dict[str, str] = {
    "AF_anterior": "#e6194b",
    "NP_anterior": "#ff8c00",
    "NP_central": "#ff00ff",
    "NP_posterior": "#8b00ff",
    "AF_posterior": "#00e5ff",
}
_ARM_COLORS = ("#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377")
_ROLE_STYLE = {
    "index": {"linestyle": "-", "linewidth": 2.2, "marker": "o", "zorder": 3},
    "control": {"linestyle": "--", "linewidth": 1.4, "marker": "s", "zorder": 2},
    "other": {"linestyle": ":", "linewidth": 1.0, "marker": ".", "zorder": 1},
}


def figure_to_png(fig: Figure, *, dpi: float = 100) -> bytes:
    """Render a figure to PNG bytes (Agg).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to render.
    dpi : float, optional
        Resolution (dots per inch).
    """
    buffer = io.BytesIO()
    FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def render_rgba(fig: Figure) -> np.ndarray:
    """Render a figure with Agg at its own dpi; returns the pixels, shape (H, W, 4), uint8."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _default_roi_names(labels: np.ndarray) -> dict[int, str]:
    """Label ``10 n + k`` (k = 1..5) is ROI k of some disc: the rois.nii.gz convention."""
    names = {}
    for value in np.unique(labels):
        k = int(value) % 10
        if value > 0 and 1 <= k <= 5:
            names[int(value)] = FIVE_ROIS[k - 1]
    return names


def _plane(
    t2_ms: np.ndarray,
    labels: np.ndarray,
    affine: np.ndarray | None,
    voxel_size_mm: Sequence[float] | None,
    slice_index: int | None,
    wanted: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, float, float, dict[str, str], int | None]:
    """Cut the slice and turn it to display order (rows down, columns right) with spacings.

    With an affine: the slice axis is the one closest to left-right (sagittal), superior is up and
    anterior on the left. Without: the slice is shown as a DICOM viewer shows the pixel array
    (axis 0 across, axis 1 down).
    """
    if t2_ms.shape != labels.shape:
        raise ShapeMismatchError(
            f"T2 map shape {t2_ms.shape} and label shape {labels.shape} differ; they must share "
            "the grid"
        )
    if t2_ms.ndim not in (2, 3):
        raise ShapeMismatchError(f"T2 map must be 2-D or 3-D, got shape {t2_ms.shape}")
    if affine is not None:
        affine = np.asarray(affine, float)
        if affine.shape != (4, 4):
            raise InputError(f"affine must be 4 x 4, got shape {affine.shape}")
        directions = affine[:3, :3]
        spacing = np.linalg.norm(directions, axis=0)
        if t2_ms.ndim == 2:
            spacing, directions = spacing[:2], directions[:, :2]
    else:
        if voxel_size_mm is None:
            raise InputError("give the affine or voxel_size_mm (needed for the pixel aspect)")
        spacing = np.asarray(voxel_size_mm, float)
        if spacing.size < t2_ms.ndim or np.any(spacing[: t2_ms.ndim] <= 0):
            raise InputError(f"voxel_size_mm must give {t2_ms.ndim} sizes > 0, got {voxel_size_mm}")
        directions = None
    chosen = None
    if t2_ms.ndim == 3:
        axis = 2 if directions is None else int(np.argmax(np.abs(directions[0] / spacing)))
        if slice_index is None:
            counts = np.moveaxis(wanted, axis, 0).reshape(wanted.shape[axis], -1).sum(axis=1)
            slice_index = int(np.argmax(counts))
        if not 0 <= slice_index < t2_ms.shape[axis]:
            raise InputError(f"slice_index {slice_index} outside 0..{t2_ms.shape[axis] - 1}")
        chosen = slice_index
        keep = [a for a in range(3) if a != axis]
        t2_ms = np.take(t2_ms, slice_index, axis=axis)
        labels = np.take(labels, slice_index, axis=axis)
        spacing = spacing[keep]
        if directions is not None:
            directions = directions[:, keep]
    if directions is None:  # pixel-array view: rows = axis 1, columns = axis 0
        return t2_ms.T, labels.T, float(spacing[1]), float(spacing[0]), {}, chosen
    unit = directions / spacing
    vertical = int(np.argmax(np.abs(unit[2])))  # the in-plane axis closest to S
    horizontal = 1 - vertical
    img, lab = t2_ms, labels
    if vertical == 1:  # rows must run along the vertical axis
        img, lab = img.T, lab.T
    if unit[2, vertical] > 0:  # index increases to superior: flip so superior is on top
        img, lab = img[::-1], lab[::-1]
    if unit[1, horizontal] > 0:  # index increases to anterior: flip so anterior is on the left
        img, lab = img[:, ::-1], lab[:, ::-1]
    sides = {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    return img, lab, float(spacing[vertical]), float(spacing[horizontal]), sides, chosen


def plot_t2_rois(
    t2_ms: np.ndarray,
    labels: np.ndarray,
    *,
    affine: np.ndarray | None = None,
    voxel_size_mm: Sequence[float] | None = None,
    roi_names: Mapping[int, str] | None = None,
    slice_index: int | None = None,
    t2_range_ms: tuple[float, float] = T2_RANGE_MS,
    margin_mm: float = 8.0,
    title: str | None = None,
    figsize: tuple[float, float] = (3.6, 3.6),
    dpi: float = 100,
) -> Figure:
    """T2 map of one disc, cropped around it, with its ROIs outlined in colour and named.

    Parameters
    ----------
    t2_ms : ndarray, shape (I, J) or (I, J, K)
        T2 map (ms); NaN where not fitted (shown grey).
    labels : ndarray of int, same shape
        ROI labels (``rois.nii.gz``); 0 is background.
    affine : ndarray, shape (4, 4), optional
        Voxel-to-RAS affine of the grid. With it the view is the usual sagittal one (superior up,
        anterior left, the slice axis being the one closest to left-right) and the voxel aspect
        follows the voxel sizes. For a 2-D slice, its first two columns give the plane.
    voxel_size_mm : sequence of float, optional
        Without an affine: voxel sizes along the array axes; the slice is drawn as the DICOM
        pixel array (axis 0 across, axis 1 down), axis 2 is the slice axis of a 3-D array.
    roi_names : mapping int -> str, optional
        Which labels to outline and their ROI names (e.g. ``{41: 'AF_anterior', ...}`` for one
        disc). Default: every label ``10 n + k`` with k in 1..5 is ROI k.
    slice_index : int, optional
        Slice of a 3-D array to show; default the one with most voxels of these ROIs.
    t2_range_ms : (float, float)
        Colour scale limits (ms); values above are drawn in the top colour.
    margin_mm : float
        Margin around the ROIs' bounding box (mm).
    title : str, optional
        Axes title (use subject codes only, never patient names).
    figsize, dpi : optional
        Figure size (inches) and resolution.

    Returns
    -------
    Figure
        With a labelled ``T2 (ms)`` colour bar and a legend of the ROI colours.

    Raises
    ------
    ShapeMismatchError
        Map and labels differ in shape.
    InputError
        Neither affine nor voxel size, a slice out of range, or none of the ROIs in the labels.
    """
    t2_ms = np.asarray(t2_ms, dtype=float)
    labels = np.asarray(labels)
    names = dict(roi_names) if roi_names is not None else _default_roi_names(labels)
    wanted = np.isin(labels, list(names))
    if not wanted.any():
        raise InputError(
            f"none of the ROI labels {sorted(names) or '(none)'} occurs in the label array"
        )
    img, lab, dv, dh, sides, chosen = _plane(
        t2_ms, labels, affine, voxel_size_mm, slice_index, wanted
    )
    rows, cols = np.nonzero(np.isin(lab, list(names)))
    if rows.size == 0:
        raise InputError(f"slice {chosen} holds none of the ROI labels {sorted(names)}")
    mr, mc = int(np.ceil(margin_mm / dv)), int(np.ceil(margin_mm / dh))
    r0, r1 = max(rows.min() - mr, 0), min(rows.max() + mr + 1, img.shape[0])
    c0, c1 = max(cols.min() - mc, 0), min(cols.max() + mc + 1, img.shape[1])
    img, lab = img[r0:r1, c0:c1], lab[r0:r1, c0:c1]
    height_mm, width_mm = img.shape[0] * dv, img.shape[1] * dh

    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    norm = Normalize(*t2_range_ms)
    image = ax.imshow(
        np.ma.masked_invalid(img),
        cmap=T2_CMAP,
        norm=norm,
        extent=(0.0, width_mm, height_mm, 0.0),
        interpolation="nearest",
        origin="upper",
    )
    handles = []
    for value, name in sorted(names.items(), key=lambda kv: roi_rank(kv[1])):
        mask = lab == value
        if not mask.any():
            continue
        color = ROI_COLORS.get(name, "#ffffff")
        ax.add_collection(
            LineCollection(
                _outline(mask, dv, dh), colors=color, linewidths=1.5, antialiaseds=False, zorder=3
            )
        )
        handles.append(Patch(facecolor="none", edgecolor=color, linewidth=1.5, label=name))
    ax.set_xlim(0.0, width_mm)
    ax.set_ylim(height_mm, 0.0)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    if sides:
        style = {"color": "white", "fontsize": 8, "fontweight": "bold"}
        ax.text(0.02, 0.5, sides["left"], transform=ax.transAxes, va="center", **style)
        ax.text(0.98, 0.5, sides["right"], transform=ax.transAxes, va="center", ha="right", **style)
        ax.text(0.5, 0.98, sides["top"], transform=ax.transAxes, va="top", ha="center", **style)
    if title:
        ax.set_title(title, fontsize=9)
    extend = "max" if np.nanmax(img, initial=-np.inf) > t2_range_ms[1] else "neither"
    bar = fig.colorbar(image, ax=ax, shrink=0.85, extend=extend)
    bar.set_label("T2 (ms)")
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=2,
        fontsize=6.5,
        frameon=False,
        handlelength=1.2,
        columnspacing=0.8,
    )
    return fig


def _outline(mask: np.ndarray, dv: float, dh: float) -> list[np.ndarray]:
    """Voxel edges between a mask and its outside, as segments in display mm (x right, y down)."""
    padded = np.pad(mask, 1)
    segments = []
    # horizontal edges: between rows r-1 and r
    rr, cc = np.nonzero(padded[1:, 1:-1] != padded[:-1, 1:-1])
    for r, c in zip(rr, cc, strict=True):
        segments.append(np.array([[c * dh, r * dv], [(c + 1) * dh, r * dv]]))
    rr, cc = np.nonzero(padded[1:-1, 1:] != padded[1:-1, :-1])
    for r, c in zip(rr, cc, strict=True):
        segments.append(np.array([[c * dh, r * dv], [c * dh, (r + 1) * dv]]))
    return segments


def plot_trajectories(
    changes: pd.DataFrame,
    subject: str,
    *,
    rois: Sequence[str] = ("NP", "AF", "disc"),
    tau_pct: float = 0.0,
    figsize: tuple[float, float] | None = None,
    dpi: float = 100,
) -> Figure:
    """T2 as % of baseline over months for every disc of one subject, one panel per ROI.

    The treated (index) disc is a thick solid line, control discs dashed, other discs dotted;
    baseline is 100 %. A band shows +-tau when tau > 0.

    Parameters
    ----------
    changes : DataFrame
        A change table (:func:`~discT2.report.change_table`).
    subject : str
        The subject code.
    rois : sequence of str
        ROIs to draw, one panel each (those absent from the table are skipped).
    tau_pct : float
        Category threshold drawn as a band around 100 %.
    figsize, dpi : optional
        Figure size (inches; default scales with the panels) and resolution.

    Returns
    -------
    Figure

    Raises
    ------
    InputError
        The subject has no rows in ``changes``.
    """
    sub = changes[changes["subject"].astype(str) == str(subject)]
    if sub.empty:
        raise InputError(f"no changes for subject {subject!r}")
    panels = [r for r in rois if (sub["roi"] == r).any()]
    if not panels:
        raise InputError(f"subject {subject!r} has none of the ROIs {', '.join(rois)}")
    fig = Figure(figsize=figsize or (2.6 * len(panels) + 1.0, 2.8), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    months_all = np.unique(np.concatenate([[0.0], sub["months"].to_numpy(float)]))
    for ax, roi in zip(axes, panels, strict=True):
        part = sub[sub["roi"] == roi]
        levels = sorted(set(part["level"]), key=lambda lv: (level_rank(lv), lv))
        for n, level in enumerate(levels):
            disc = part[part["level"] == level].sort_values("months")
            role = str(disc["role"].iloc[0])
            x = np.concatenate([[0.0], disc["months"].to_numpy(float)])
            y = np.concatenate([[100.0], disc["pct_of_baseline"].to_numpy(float)])
            color = "#222222" if role == "index" else f"C{n % 10}"
            ax.plot(
                x,
                y,
                color=color,
                label=f"{level} ({role})",
                markersize=4,
                **_ROLE_STYLE.get(role, _ROLE_STYLE["other"]),
            )
        ax.axhline(100.0, color="0.6", linewidth=0.8, zorder=0)
        if tau_pct > 0:
            ax.axhspan(100.0 - tau_pct, 100.0 + tau_pct, color="0.9", zorder=0)
        ax.set_title(roi, fontsize=9)
        ax.set_xlabel("months")
        ax.set_xticks(months_all)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("T2, % of baseline")
    axes[-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"Subject {subject}", fontsize=10)
    return fig


def plot_arm_boxes(
    changes: pd.DataFrame,
    arms: pd.DataFrame,
    *,
    roi: str = "NP",
    endpoint: str = "change_pct",
    figsize: tuple[float, float] = (5.0, 3.2),
    dpi: float = 100,
) -> Figure:
    """Box plots of an index-disc endpoint per follow-up visit and arm, every subject a dot.

    For unblinded reports only: the figure shows the allocation.

    Parameters
    ----------
    changes : DataFrame
        A change table.
    arms : DataFrame
        The allocation ``subject, arm``.
    roi : str
        ROI to show.
    endpoint : str
        ``change_pct``, ``treated_minus_control_pct`` or ``ratio_change_pct``.
    figsize, dpi : optional
        Figure size (inches) and resolution.

    Returns
    -------
    Figure
    """
    if endpoint not in ENDPOINTS:
        raise InputError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")
    data = changes[(changes["role"] == "index") & (changes["roi"] == roi)].merge(
        arms.assign(subject=arms["subject"].astype(str)), on="subject", how="inner"
    )
    arm_names = sorted(set(arms["arm"].astype(str)))
    visits = data[["visit", "months"]].drop_duplicates().sort_values(["months", "visit"])
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / max(len(arm_names), 1)
    rng = np.random.default_rng(0)  # fixed jitter: identical figures on every run
    for a, arm in enumerate(arm_names):
        color = _ARM_COLORS[a % len(_ARM_COLORS)]
        for v, visit in enumerate(visits["visit"]):
            y = data.loc[(data["visit"] == visit) & (data["arm"] == arm), endpoint].to_numpy(float)
            y = y[np.isfinite(y)]
            x0 = v + (a - (len(arm_names) - 1) / 2) * width
            if y.size:
                ax.boxplot(
                    y,
                    positions=[x0],
                    widths=width * 0.8,
                    showfliers=False,
                    patch_artist=True,
                    boxprops={"facecolor": color, "alpha": 0.35, "edgecolor": color},
                    medianprops={"color": color},
                    whiskerprops={"color": color},
                    capprops={"color": color},
                )
                ax.scatter(
                    x0 + rng.uniform(-width * 0.25, width * 0.25, y.size),
                    y,
                    s=10,
                    color=color,
                    zorder=3,
                )
        ax.scatter([], [], color=color, label=arm)
    ax.axhline(0.0, color="0.5", linewidth=0.8, zorder=0)
    ax.set_xticks(range(len(visits)))
    ax.set_xticklabels(
        [f"{v}\n({m:g} months)" for v, m in visits.itertuples(index=False)], fontsize=8
    )
    ax.set_xlim(-0.6, len(visits) - 0.4)
    label = (
        "treated - control (points)"
        if endpoint == "treated_minus_control_pct"
        else ("change (%)" if endpoint == "change_pct" else "ratio change (%)")
    )
    ax.set_ylabel(label)
    ax.set_title(f"{roi}: {ENDPOINTS[endpoint]}", fontsize=8)
    ax.legend(fontsize=8, title_fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def save_png(fig: Figure, path: str | Path, *, dpi: float = 100) -> Path:
    """Write a figure as PNG (Agg); returns the path.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    path : path-like
        The PNG file.
    dpi : float, optional
        Resolution (dots per inch).
    """
    path = Path(path)
    path.write_bytes(figure_to_png(fig, dpi=dpi))
    return path
