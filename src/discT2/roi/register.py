"""Carry a baseline exam's disc geometry to a follow-up exam by rigid registration.

SimpleITK registers the follow-up to the baseline, first over the whole field of view, then per
disc in a region around it (the spine may move between discs). Each disc's landmarks are mapped
through its transform, put on the nearest follow-up slice, and the ROIs are placed there the way
they were placed at baseline. Every propagated disc is flagged ``propagated`` with registration
figures (normalised cross-correlation around the disc before and after, how far the per-disc
transform moved from the global one) so a reader knows what to review;
:func:`registration_figure` draws them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from discT2.errors import RegistrationError, RoiError
from discT2.roi._grid import Grid, grid_of
from discT2.roi._view import sagittal_crop
from discT2.roi.geometry import now_iso
from discT2.roi.place import place_rois, series_info
from discT2.roi.rois import DiscROIs

__all__ = ["propagate", "register_rigid", "registration_figure"]

logger = logging.getLogger(__name__)

#: Below this normalised cross-correlation around a disc after registration, flag for review.
MIN_NCC = 0.8
#: Per-disc transforms further than this from the global one are flagged (mm at the disc).
MAX_LOCAL_SHIFT_MM = 5.0
_LPS = np.diag([-1.0, -1.0, 1.0])


def _sitk() -> Any:
    import SimpleITK as sitk  # imported here: the rest of discT2 does not need it

    return sitk


def registration_image(image: Any) -> np.ndarray:
    """The intensity image registered: mean of the echoes, or S0 (else T2) of a T2 map."""
    if hasattr(image, "echo_times_ms"):
        return np.asarray(image.data, np.float32).mean(axis=3)
    s0 = getattr(image, "s0", None)
    if s0 is not None and np.isfinite(s0).any():
        return np.nan_to_num(np.asarray(s0, np.float32), nan=0.0)
    if hasattr(image, "t2_ms"):
        return np.clip(np.nan_to_num(np.asarray(image.t2_ms, np.float32), nan=0.0), 0, 300)
    raise RoiError(f"registration needs a series or a T2 map; got {type(image).__name__}")


def _to_sitk(array: np.ndarray, grid: Grid) -> Any:
    """A SimpleITK image (LPS physical space) from an (i, j, k) array on a RAS grid."""
    sitk = _sitk()
    img = sitk.GetImageFromArray(np.ascontiguousarray(np.transpose(array, (2, 1, 0))))
    spacing = grid.voxel_size_mm
    direction_ras = grid.affine[:3, :3] / spacing
    img.SetSpacing([float(v) for v in spacing])
    img.SetDirection([float(v) for v in (_LPS @ direction_ras).ravel()])
    img.SetOrigin([float(v) for v in _LPS @ grid.affine[:3, 3]])
    return img


def _transform_to_matrix(transform: Any) -> np.ndarray:
    """4x4 matrix in RAS of an ITK transform (which maps baseline points to follow-up points)."""
    rot = np.asarray(transform.GetMatrix(), float).reshape(3, 3)
    centre = np.asarray(transform.GetCenter(), float)
    trans = np.asarray(transform.GetTranslation(), float)
    offset = trans + centre - rot @ centre
    m_lps = np.eye(4)
    m_lps[:3, :3] = rot
    m_lps[:3, 3] = offset
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    return flip @ m_lps @ flip


def register_rigid(
    fixed: np.ndarray,
    fixed_grid: Grid,
    moving: np.ndarray,
    moving_grid: Grid,
    *,
    mask: np.ndarray | None = None,
    initial: np.ndarray | None = None,
    iterations: int = 200,
    max_step_mm: float = 1.0,
    metric: str = "correlation",
) -> np.ndarray:
    """Rigid registration with SimpleITK; returns a 4x4 RAS matrix.

    The matrix maps a baseline (fixed) point to the same anatomy in the follow-up (moving).

    Parameters
    ----------
    fixed, moving : ndarray, shape (I, J, K)
        Intensity images on their grids.
    fixed_grid, moving_grid : Grid
        Their shapes and affines.
    mask : ndarray of bool, shape of ``fixed``, optional
        Where the metric is evaluated (a region around one disc).
    initial : ndarray, shape (4, 4), optional
        Starting transform (RAS), e.g. the global one for a per-disc registration.
    iterations : int
        Optimiser iterations per resolution level.
    max_step_mm : float
        First step of the optimiser (mm of motion); small steps keep a per-disc refinement from
        jumping to the neighbouring disc, which looks alike.
    metric : {'correlation', 'mutual_information'}
        Correlation suits visits with the same protocol (the trial's case) and is several times
        faster; Mattes mutual information tolerates a change of contrast.

    Raises
    ------
    RegistrationError
        SimpleITK failed (e.g. the images do not overlap).
    """
    if metric not in ("correlation", "mutual_information"):
        raise RoiError(f"metric must be 'correlation' or 'mutual_information'; got {metric!r}")
    sitk = _sitk()
    f_img = _to_sitk(fixed.astype(np.float32), fixed_grid)
    m_img = _to_sitk(moving.astype(np.float32), moving_grid)
    tx = sitk.Euler3DTransform()
    if initial is None:
        tx = sitk.CenteredTransformInitializer(
            f_img, m_img, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
        )
    else:
        flip = np.diag([-1.0, -1.0, 1.0, 1.0])
        m_lps = flip @ np.asarray(initial, float) @ flip
        centre = _LPS @ fixed_grid.voxel_to_world((np.asarray(fixed_grid.shape) - 1) / 2)
        if mask is not None and mask.any():
            centre = _LPS @ fixed_grid.voxel_to_world(np.argwhere(mask).mean(axis=0))
        tx.SetCenter([float(v) for v in centre])
        tx.SetMatrix([float(v) for v in m_lps[:3, :3].ravel()])
        rot = m_lps[:3, :3]
        tx.SetTranslation([float(v) for v in m_lps[:3, 3] - centre + rot @ centre])
    reg = sitk.ImageRegistrationMethod()
    if metric == "mutual_information":
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        reg.SetMetricSamplingStrategy(reg.REGULAR)
        reg.SetMetricSamplingPercentage(0.5, seed=1)
    else:
        reg.SetMetricAsCorrelation()
    reg.SetInterpolator(sitk.sitkLinear)
    if min(fixed.shape) < 4 or min(moving.shape) < 4:
        # the metric's Gaussian gradient filter needs 4 voxels per axis; use central differences
        reg.SetMetricUseFixedImageGradientFilter(False)
        reg.SetMetricUseMovingImageGradientFilter(False)
    if mask is not None:
        reg.SetMetricFixedMask(_to_sitk(mask.astype(np.uint8), fixed_grid))
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=max_step_mm,
        minStep=1e-3,
        numberOfIterations=iterations,
        relaxationFactor=0.6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    # ITK's Gaussian pyramid needs at least 4 voxels along every axis; a few-slice sagittal stack
    # (3-5 slices is common for T2 mapping) gets a single full-resolution level instead.
    if mask is None and min(fixed.shape) >= 8 and min(moving.shape) >= 8:
        reg.SetShrinkFactorsPerLevel([2, 1])
        reg.SetSmoothingSigmasPerLevel([1.0, 0.0])
    else:
        reg.SetShrinkFactorsPerLevel([1])
        reg.SetSmoothingSigmasPerLevel([0.0])
    reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    reg.SetInitialTransform(tx, inPlace=True)
    try:
        reg.Execute(f_img, m_img)
    except RuntimeError as exc:
        raise RegistrationError(f"rigid registration failed: {exc}") from exc
    return _transform_to_matrix(tx)


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    pts = np.atleast_2d(np.asarray(points, float))
    return pts @ matrix[:3, :3].T + matrix[:3, 3]


def _resample_followup(
    moving: np.ndarray, moving_grid: Grid, fixed_grid: Grid, matrix: np.ndarray, k: int
) -> np.ndarray:
    """The follow-up image on baseline slice k through ``matrix`` (linear interpolation)."""
    from scipy import ndimage

    ni, nj, _ = fixed_grid.shape
    ii, jj = np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij")
    ijk = np.stack([ii.ravel(), jj.ravel(), np.full(ii.size, k)], axis=1).astype(float)
    world = _apply(matrix, fixed_grid.voxel_to_world(ijk))
    vox = moving_grid.world_to_voxel(world)
    out = ndimage.map_coordinates(moving, vox.T, order=1, mode="constant", cval=np.nan)
    return out.reshape(ni, nj)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 10:
        return float("nan")
    x, y = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    denom = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / denom) if denom > 0 else float("nan")


def _disc_region(rois: DiscROIs, level: str, margin_mm: float) -> np.ndarray:
    """A box around the disc's corners, ``margin_mm`` wider in-plane, on its slices +- 1."""
    grid = grid_of(rois)
    disc = rois.disc(level)
    mask = np.zeros(rois.shape, bool)
    pts = disc.corner_array()
    ijk = grid.world_to_voxel(pts)
    spacing = grid.voxel_size_mm
    pad = np.ceil(margin_mm / spacing[:2]).astype(int)
    lo = np.maximum(np.floor(ijk[:, :2].min(axis=0)).astype(int) - pad, 0)
    hi = np.minimum(np.ceil(ijk[:, :2].max(axis=0)).astype(int) + pad + 1, rois.shape[:2])
    slices = disc.qa.get("slices") or [disc.slice]
    ks = sorted({int(k) for k in slices} | {int(disc.slice or 0)})
    k_lo, k_hi = max(min(ks) - 1, 0), min(max(ks) + 1, rois.shape[2] - 1)
    mask[lo[0] : hi[0], lo[1] : hi[1], k_lo : k_hi + 1] = True
    return mask


def propagate(
    baseline: Any,
    baseline_rois: DiscROIs,
    followup: Any,
    *,
    per_disc: bool = True,
    reader: str = "",
    region_mm: float = 20.0,
    metric: str = "correlation",
    place_options: Mapping[str, Any] | None = None,
) -> DiscROIs:
    """Carry baseline ROIs to a follow-up exam by rigid registration.

    Parameters
    ----------
    baseline : MultiEchoSeries or T2Map
        The baseline exam: echo images, or a T2 map with S0.
    baseline_rois : DiscROIs
        The ROIs placed at baseline (on ``baseline``'s grid).
    followup : MultiEchoSeries or T2Map
        The follow-up exam, the same kind as ``baseline``.
    per_disc : bool
        After the whole field of view, refine the registration in a region around each disc.
    reader : str
        Who will review the propagated discs.
    region_mm : float
        How far around each disc (in-plane) the per-disc registration looks.
    metric : {'correlation', 'mutual_information'}
        Similarity measure (see :func:`register_rigid`).
    place_options : mapping, optional
        Options of :func:`discT2.place_rois`; default the ones the baseline ROIs were placed with.

    Returns
    -------
    DiscROIs
        On the follow-up grid; each disc ``method="propagated"``, flagged ``review``, with
        ``qa["registration"]``: ``ncc_before`` and ``ncc_after`` (around the disc, on its slice),
        ``shift_from_global_mm``, the 4x4 ``matrix_ras`` and ``review`` (true when NCC <
        0.8 or the per-disc transform moved more than 5 mm from the global one).

    Raises
    ------
    RegistrationError
        The global registration failed.
    GeometryError
        A grid that is not sagittal.
    """
    base_grid = grid_of(baseline)
    fu_grid = grid_of(followup)
    if not np.allclose(base_grid.affine, baseline_rois.affine, atol=1e-3) or tuple(
        base_grid.shape
    ) != tuple(baseline_rois.shape):
        raise RoiError("the baseline ROIs are not on the baseline image's grid")
    fixed = registration_image(baseline)
    moving = registration_image(followup)
    global_m = register_rigid(fixed, base_grid, moving, fu_grid, metric=metric)
    logger.info("global registration: translation %s mm", np.round(global_m[:3, 3], 2).tolist())
    options = dict(baseline_rois.options)
    options.update(place_options or {})
    moved = []
    for disc in baseline_rois.discs:
        matrix = global_m
        local_failed = False
        region = _disc_region(baseline_rois, disc.level, region_mm)
        if per_disc:
            try:
                matrix = register_rigid(
                    fixed,
                    base_grid,
                    moving,
                    fu_grid,
                    mask=region,
                    initial=global_m,
                    iterations=100,
                    max_step_mm=0.5,
                    metric=metric,
                )
            except RegistrationError as exc:
                logger.warning("disc %s: per-disc registration failed (%s)", disc.level, exc)
                local_failed = True
        centre = disc.centre_ras_mm
        shift = float(np.linalg.norm(_apply(matrix, centre) - _apply(global_m, centre)))
        if shift > MAX_LOCAL_SHIFT_MM:
            logger.warning(
                "disc %s: per-disc registration moved %.1f mm from the global one; kept global",
                disc.level,
                shift,
            )
            matrix = global_m
        k = int(disc.slice or 0)
        patch = region[:, :, k]
        base_patch = fixed[:, :, k][patch]
        before = _ncc(
            base_patch, _resample_followup(moving, fu_grid, base_grid, np.eye(4), k)[patch]
        )
        after = _ncc(base_patch, _resample_followup(moving, fu_grid, base_grid, matrix, k)[patch])
        review = bool(not after >= MIN_NCC or shift > MAX_LOCAL_SHIFT_MM or local_failed)
        g = disc.transformed(
            lambda pts, m=matrix: _apply(m, pts),
            method="propagated",
            reader=reader,
            created=now_iso(),
            pfirrmann=None,
            series=series_info(followup),
        )
        # On the follow-up grid: the nearest slice, landmarks projected onto it.
        pts = g.corner_array()
        ijk = fu_grid.world_to_voxel(pts)
        k_new = int(np.clip(np.rint(ijk[:, 2].mean()), 0, fu_grid.shape[2] - 1))

        def onto_slice(points: np.ndarray, k_new: int = k_new) -> np.ndarray:
            vox = fu_grid.world_to_voxel(np.atleast_2d(points))
            vox[:, 2] = k_new
            return fu_grid.voxel_to_world(vox)

        g = g.transformed(onto_slice, slice=k_new)
        g.qa = {
            "registration": {
                "ncc_before": round(before, 4),
                "ncc_after": round(after, 4),
                "shift_from_global_mm": round(shift, 3),
                "per_disc": bool(per_disc and not local_failed),
                "matrix_ras": np.round(matrix, 6).tolist(),
                "review": review,
            },
            "propagated_from": {
                "series": disc.series,
                "slice": disc.slice,
                "created": disc.created,
                "reader": disc.reader,
            },
        }
        moved.append(g)
    rois = place_rois(followup, moved, reader=reader, on_error="flag", **options)
    for g in rois.discs:
        if g.qa.get("registration", {}).get("review"):
            g.qa["flags"] = sorted(set(g.qa.get("flags", [])) | {"registration_review"})
    rois.provenance["propagated_from"] = baseline_rois.provenance.get("series", {})
    rois.provenance["global_matrix_ras"] = np.round(global_m, 6).tolist()
    return rois


def registration_figure(
    baseline: Any,
    baseline_rois: DiscROIs,
    followup: Any,
    followup_rois: DiscROIs,
    *,
    margin_mm: float = 15.0,
) -> Any:
    """A figure per disc: baseline with its ROIs, follow-up with the propagated ROIs, overlay.

    The third panel shows the baseline (magenta) over the follow-up brought back onto the
    baseline slice through the disc's transform (green): where they agree the image is grey.
    Titles give the normalised cross-correlation around the disc and the review flag.

    Parameters
    ----------
    baseline : MultiEchoSeries or T2Map
        The baseline exam.
    baseline_rois : DiscROIs
        Its ROIs.
    followup : MultiEchoSeries or T2Map
        The follow-up exam (the same kind as ``baseline``).
    followup_rois : DiscROIs
        The ROIs :func:`~discT2.propagate` placed on it.
    margin_mm : float, optional
        Field of view around each disc.

    Returns
    -------
    matplotlib.figure.Figure
        Not attached to pyplot (save it with ``fig.savefig``).
    """
    from matplotlib.figure import Figure

    base_grid, fu_grid = grid_of(baseline), grid_of(followup)
    fixed, moving = registration_image(baseline), registration_image(followup)
    levels = [lv for lv in baseline_rois.levels if lv in followup_rois.levels]
    fig = Figure(figsize=(9, 3 * max(len(levels), 1)), layout="constrained")
    axes = fig.subplots(max(len(levels), 1), 3, squeeze=False)
    for row, level in enumerate(levels):
        b_disc, f_disc = baseline_rois.disc(level), followup_rois.disc(level)
        reg = f_disc.qa.get("registration", {})
        matrix = np.asarray(reg.get("matrix_ras", np.eye(4)), float)
        panels = [
            (fixed, base_grid, baseline_rois, b_disc, f"{level} baseline"),
            (moving, fu_grid, followup_rois, f_disc, f"{level} follow-up"),
        ]
        for col, (img, grid, rois, disc, title) in enumerate(panels):
            _draw_crop(axes[row, col], img, grid, rois, disc, margin_mm)
            axes[row, col].set_title(title, fontsize=9)
        k = int(b_disc.slice or 0)
        back = _resample_followup(moving, fu_grid, base_grid, matrix, k)
        _draw_overlay(axes[row, 2], fixed[:, :, k], back, base_grid, b_disc, margin_mm)
        flag = "REVIEW" if reg.get("review") else "ok"
        axes[row, 2].set_title(
            f"NCC {reg.get('ncc_before', float('nan')):.2f} -> "
            f"{reg.get('ncc_after', float('nan')):.2f} ({flag})",
            fontsize=9,
        )
    return fig


def _draw_crop(
    ax: Any, img: np.ndarray, grid: Grid, rois: DiscROIs, disc: Any, margin: float
) -> None:
    from discT2.roi.levels import level_index

    k = int(disc.slice or 0)
    centre = disc.centre_ras_mm
    half_w = 0.5 * disc.measures()["ap_length_mm"] + margin
    crop, view = sagittal_crop(
        img[:, :, k], grid, centre, half_width_mm=half_w, half_height_mm=half_w * 0.6
    )
    ax.imshow(crop, cmap="gray", extent=view["extent"], interpolation="nearest")
    labels = np.where(
        rois.labels[:, :, k] // 10 == level_index(disc.level), rois.labels[:, :, k] % 10, 0
    )
    lab, _ = sagittal_crop(
        labels, grid, centre, half_width_mm=half_w, half_height_mm=half_w * 0.6, order=0
    )
    if np.nan_to_num(lab).any():
        ax.contour(
            np.nan_to_num(lab),
            levels=np.arange(0.5, 5.6, 1.0),
            colors="yellow",
            linewidths=0.6,
            extent=view["extent"],
            origin="upper",
        )
    ax.set_axis_off()


def _draw_overlay(
    ax: Any, base: np.ndarray, back: np.ndarray, grid: Grid, disc: Any, margin: float
) -> None:
    centre = disc.centre_ras_mm
    half_w = 0.5 * disc.measures()["ap_length_mm"] + margin
    a, view = sagittal_crop(base, grid, centre, half_width_mm=half_w, half_height_mm=half_w * 0.6)
    b, _ = sagittal_crop(back, grid, centre, half_width_mm=half_w, half_height_mm=half_w * 0.6)
    a, b = np.nan_to_num(a), np.nan_to_num(b)
    scale = max(float(np.percentile(a, 99)), 1e-9)
    rgb = np.stack([a / scale, b / scale, a / scale], axis=-1).clip(0, 1)
    ax.imshow(rgb, extent=view["extent"], interpolation="nearest")
    ax.set_axis_off()
