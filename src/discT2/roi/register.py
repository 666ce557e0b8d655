"""Carry a baseline exam's disc geometry to a follow-up exam by rigid registration.

SimpleITK registers the follow-up to the baseline, first over the lumbar column (a box around
the baseline's discs), then per disc in a region around it (the spine may move between discs);
only those boxes are registered (the rest of the field of view costs time and moves in ways the
spine does not). Each disc's landmarks are mapped
through its transform, put on the nearest follow-up slice, and the ROIs are placed there the way
they were placed at baseline. Every propagated disc is flagged ``propagated`` with registration
figures (normalised cross-correlation around the disc before and after, how far the per-disc
transform moved from the global one) so a reader knows what to review;
:func:`registration_figure` draws them.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from discT2.errors import RegistrationError, RoiError
from discT2.roi._grid import Grid, grid_of
from discT2.roi._view import sagittal_crop
from discT2.roi.geometry import now_iso
from discT2.roi.place import place_rois, series_info
from discT2.roi.rois import DiscROIs

__all__ = ["RegistrationImage", "propagate", "register_rigid", "registration_figure"]

logger = logging.getLogger(__name__)

#: Below this normalised cross-correlation around a disc after registration, flag for review.
MIN_NCC = 0.8
#: Per-disc transforms further than this from the global one are flagged (mm at the disc).
MAX_LOCAL_SHIFT_MM = 5.0
_LPS = np.diag([-1.0, -1.0, 1.0])
#: In-plane margin of the lumbar-column box the global registration looks at (mm).
COLUMN_MARGIN_MM = 25.0
#: The optimiser stops at steps below this (mm): a hundredth of a typical 1-2 mm pixel.
MIN_STEP_MM = 0.01


def _sitk() -> Any:
    import SimpleITK as sitk  # imported here: the rest of discT2 does not need it

    return sitk


@dataclass(frozen=True)
class RegistrationImage:
    """The intensity image an exam is registered with, on its grid.

    All :func:`propagate` needs of a baseline exam, so a study run keeps it next to the
    baseline's outputs instead of reading the baseline's DICOM again for every follow-up.

    Attributes
    ----------
    data : ndarray, shape (I, J, K), float32
        The image (:func:`registration_image` of the exam).
    affine : ndarray, shape (4, 4)
        Voxel to RAS mm.
    """

    data: np.ndarray
    affine: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of :attr:`data`."""
        return tuple(self.data.shape)

    @classmethod
    def of(cls, image: Any) -> RegistrationImage:
        """The registration image of a series or T2 map.

        Parameters
        ----------
        image : MultiEchoSeries or T2Map
            The exam.

        Returns
        -------
        RegistrationImage
            Its :func:`registration_image` and affine.
        """
        return cls(registration_image(image), np.array(grid_of(image).affine, float))

    def save(self, path: str | os.PathLike) -> Path:
        """Write to a NumPy ``.npz`` file (exact: float32 image, float64 affine).

        Parameters
        ----------
        path : path-like
            The file, written under a temporary name and renamed.

        Returns
        -------
        Path
            ``path``.
        """
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as fh:
                np.savez_compressed(fh, data=self.data, affine=self.affine)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> RegistrationImage:
        """Read a file written by :meth:`save`.

        Parameters
        ----------
        path : path-like
            The ``.npz`` file.

        Returns
        -------
        RegistrationImage
            The image and affine.

        Raises
        ------
        RoiError
            The file cannot be read or holds no 3-D image with a 4x4 affine.
        """
        try:
            with np.load(path, allow_pickle=False) as doc:
                data, affine = np.asarray(doc["data"], np.float32), np.asarray(doc["affine"])
        except (OSError, KeyError, ValueError) as exc:
            raise RoiError(f"{path}: not a registration image ({exc})") from exc
        if data.ndim != 3 or affine.shape != (4, 4):
            raise RoiError(f"{path}: not a registration image (shape {data.shape})")
        return cls(data, affine.astype(float))


def registration_image(image: Any) -> np.ndarray:
    """The intensity image registered: mean of the echoes, or S0 (else T2) of a T2 map."""
    if isinstance(image, RegistrationImage):
        return image.data
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
    min_step_mm: float = 1e-3,
    coarse: bool = False,
    lever_arm_mm: float | None = None,
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
    min_step_mm : float
        The optimiser stops when its step falls below this (mm of motion).
    coarse : bool
        Register at half the in-plane resolution first (in-plane 2x2 averages; the slices are
        kept, since a sagittal T2 stack has only a few), then refine at full resolution.
    lever_arm_mm : float, optional
        Distance at which a rotation's motion is weighed against a translation's (optimiser
        scales). Default: estimated from the fixed image's extent. A region cropped around one
        disc gets the whole field of view's, so that its refinement turns as cautiously as one
        over the whole image (a few slices of one disc say little about rotation).

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
    tx = _initial_transform(f_img, m_img, fixed_grid, mask, initial)
    f_mask = _to_sitk(mask.astype(np.uint8), fixed_grid) if mask is not None else None
    levels = [(f_img, m_img, f_mask, max_step_mm)]
    if coarse and min(fixed.shape[:2]) >= 16 and min(moving.shape[:2]) >= 16:
        shrink = [2, 2, 1]
        small = (
            sitk.BinShrink(f_img, shrink),
            sitk.BinShrink(m_img, shrink),
            None if f_mask is None else sitk.BinShrink(f_mask, shrink),
            2 * max_step_mm,
        )
        levels.insert(0, small)
    for f_lvl, m_lvl, mask_lvl, step in levels:
        reg = _registration(sitk, f_lvl, m_lvl, mask_lvl, metric, iterations, step, min_step_mm)
        if lever_arm_mm is not None:
            reg.SetOptimizerScales([float(lever_arm_mm) ** 2] * 3 + [1.0] * 3)
        reg.SetInitialTransform(tx, inPlace=True)
        try:
            reg.Execute(f_lvl, m_lvl)
        except RuntimeError as exc:
            raise RegistrationError(f"rigid registration failed: {exc}") from exc
    return _transform_to_matrix(tx)


def _initial_transform(
    f_img: Any, m_img: Any, fixed_grid: Grid, mask: np.ndarray | None, initial: np.ndarray | None
) -> Any:
    """An Euler transform from ``initial`` (RAS) centred on the mask, or the images' centres."""
    sitk = _sitk()
    if initial is None:
        return sitk.CenteredTransformInitializer(
            f_img, m_img, sitk.Euler3DTransform(), sitk.CenteredTransformInitializerFilter.GEOMETRY
        )
    tx = sitk.Euler3DTransform()
    flip = np.diag([-1.0, -1.0, 1.0, 1.0])
    m_lps = flip @ np.asarray(initial, float) @ flip
    centre = _LPS @ fixed_grid.voxel_to_world((np.asarray(fixed_grid.shape) - 1) / 2)
    if mask is not None and mask.any():
        centre = _LPS @ fixed_grid.voxel_to_world(np.argwhere(mask).mean(axis=0))
    tx.SetCenter([float(v) for v in centre])
    tx.SetMatrix([float(v) for v in m_lps[:3, :3].ravel()])
    rot = m_lps[:3, :3]
    tx.SetTranslation([float(v) for v in m_lps[:3, 3] - centre + rot @ centre])
    return tx


def _registration(
    sitk: Any,
    f_img: Any,
    m_img: Any,
    f_mask: Any,
    metric: str,
    iterations: int,
    max_step_mm: float,
    min_step_mm: float,
) -> Any:
    reg = sitk.ImageRegistrationMethod()
    # One thread: the images are small (thread start-up costs more than it saves), parallel
    # runs use their cores for other exams, and the result then does not depend on the machine.
    reg.SetNumberOfThreads(1)
    if metric == "mutual_information":
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
        reg.SetMetricSamplingStrategy(reg.REGULAR)
        reg.SetMetricSamplingPercentage(0.5, seed=1)
    else:
        reg.SetMetricAsCorrelation()
    reg.SetInterpolator(sitk.sitkLinear)
    # The correlation's gradient needs only the moving image's; skip smoothing the fixed one.
    reg.SetMetricUseFixedImageGradientFilter(False)
    if min(m_img.GetSize()) < 4:
        # the metric's Gaussian gradient filter needs 4 voxels per axis; use central differences
        reg.SetMetricUseMovingImageGradientFilter(False)
    if f_mask is not None:
        reg.SetMetricFixedMask(f_mask)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=max_step_mm,
        minStep=min_step_mm,
        numberOfIterations=iterations,
        relaxationFactor=0.6,
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([1])
    reg.SetSmoothingSigmasPerLevel([0.0])
    return reg


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


def _sub_grid(grid: Grid, lo: np.ndarray, hi: np.ndarray) -> Grid:
    """The grid of the voxel box ``lo:hi`` of ``grid``."""
    affine = np.array(grid.affine, float)
    affine[:3, 3] = grid.voxel_to_world(np.asarray(lo, float))
    return Grid(tuple(int(v) for v in np.asarray(hi) - np.asarray(lo)), affine)


def _crop(array: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return array[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]


def _box_around(
    grid: Grid, points: np.ndarray, margin_mm: float, k_range: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Voxel box (lo, hi) around world points, ``margin_mm`` wider in-plane; slices ``k_range``
    (inclusive) or all."""
    ijk = grid.world_to_voxel(np.atleast_2d(points))
    pad = np.ceil(margin_mm / grid.voxel_size_mm[:2]).astype(int)
    lo = np.zeros(3, int)
    hi = np.asarray(grid.shape, int).copy()
    lo[:2] = np.maximum(np.floor(ijk[:, :2].min(axis=0)).astype(int) - pad, 0)
    hi[:2] = np.minimum(np.ceil(ijk[:, :2].max(axis=0)).astype(int) + pad + 1, hi[:2])
    if k_range is not None:
        lo[2], hi[2] = max(k_range[0], 0), min(k_range[1] + 1, grid.shape[2])
    return lo, hi


def _box_corners(grid: Grid, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """World coordinates of the 8 corners of the voxel box ``lo:hi``."""
    last = np.asarray(hi) - 1
    corners = np.array([[a, b, c] for a in (lo[0], last[0]) for b in (lo[1], last[1])
                        for c in (lo[2], last[2])], float)  # fmt: skip
    return grid.voxel_to_world(corners)


def _region_pair(
    fixed: np.ndarray,
    fixed_grid: Grid,
    moving: np.ndarray,
    moving_grid: Grid,
    box: tuple[np.ndarray, np.ndarray],
    matrix: np.ndarray,
    margin_mm: float,
) -> tuple[np.ndarray, Grid, np.ndarray, Grid]:
    """The fixed image cropped to ``box``, and the moving image cropped to where ``matrix``
    puts that box, ``margin_mm`` wider in-plane (all slices within one slice more)."""
    lo, hi = box
    f_crop, f_grid = _crop(fixed, lo, hi), _sub_grid(fixed_grid, lo, hi)
    mapped = _apply(matrix, _box_corners(fixed_grid, lo, hi))
    k = moving_grid.world_to_voxel(mapped)[:, 2]
    k_range = (int(np.floor(k.min())) - 1, int(np.ceil(k.max())) + 1)
    m_lo, m_hi = _box_around(moving_grid, mapped, margin_mm, k_range)
    if np.any(m_hi - m_lo < 2):
        return f_crop, f_grid, moving, moving_grid
    return f_crop, f_grid, _crop(moving, m_lo, m_hi), _sub_grid(moving_grid, m_lo, m_hi)


def _global_start(
    fixed: np.ndarray, fixed_grid: Grid, moving: np.ndarray, moving_grid: Grid, box: Any
) -> np.ndarray:
    """The better start of the two the exam geometry offers (RAS matrix): the scanner's own
    coordinates (identity: the subject lies where they lay), or the fields of view centred on
    each other (the technologist centred both on the spine); judged by the correlation over
    ``box`` of the fixed image."""
    sitk = _sitk()
    lo, hi = box
    f_grid = _sub_grid(fixed_grid, lo, hi)
    f_img = _to_sitk(_crop(fixed, lo, hi).astype(np.float32), f_grid)
    m_img = _to_sitk(moving.astype(np.float32), moving_grid)
    centred = np.eye(4)
    centred[:3, 3] = moving_grid.voxel_to_world((np.asarray(moving_grid.shape) - 1) / 2) - (
        fixed_grid.voxel_to_world((np.asarray(fixed_grid.shape) - 1) / 2)
    )
    best, best_score = np.eye(4), np.inf
    for start in (np.eye(4), centred):
        reg = _registration(sitk, f_img, m_img, None, "correlation", 1, 1.0, 1.0)
        reg.SetMetricUseMovingImageGradientFilter(False)  # a value, no gradient, is needed
        reg.SetInitialTransform(_initial_transform(f_img, m_img, f_grid, None, start))
        try:
            score = reg.MetricEvaluate(f_img, m_img)
        except RuntimeError:  # no overlap at all
            continue
        # ITK's correlation metric is minus the squared NCC: lower is better.
        if score < best_score:
            best, best_score = start, score
    return best


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
    baseline : MultiEchoSeries, T2Map or RegistrationImage
        The baseline exam: echo images, a T2 map with S0, or the registration image of either.
    baseline_rois : DiscROIs
        The ROIs placed at baseline (on ``baseline``'s grid).
    followup : MultiEchoSeries or T2Map
        The follow-up exam, the same kind as ``baseline`` (as ``baseline`` was made from).
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
    # The lumbar column: a box around every baseline disc; the rest of the field of view (legs,
    # belly, the lower thorax) costs time and adds motion that is not the spine's.
    column = _box_around(
        base_grid, np.vstack([d.corner_array() for d in baseline_rois.discs]), COLUMN_MARGIN_MM
    )
    start = _global_start(fixed, base_grid, moving, fu_grid, column)
    global_m = register_rigid(
        _crop(fixed, *column),
        _sub_grid(base_grid, *column),
        moving,
        fu_grid,
        initial=start,
        metric=metric,
        min_step_mm=MIN_STEP_MM,
        coarse=True,
    )
    logger.info("global registration: translation %s mm", np.round(global_m[:3, 3], 2).tolist())
    options = dict(baseline_rois.options)
    options.update(place_options or {})
    full_corners = _box_corners(base_grid, np.zeros(3, int), np.asarray(base_grid.shape))
    moved = []
    for disc in baseline_rois.discs:
        matrix = global_m
        local_failed = False
        region = _disc_region(baseline_rois, disc.level, region_mm)
        if per_disc:
            box = np.argwhere(region)
            centre_ijk = box.mean(axis=0)
            lever_arm = float(
                np.max(np.linalg.norm(full_corners - base_grid.voxel_to_world(centre_ijk), axis=1))
            )
            f_crop, f_grid, m_crop, m_grid = _region_pair(
                fixed,
                base_grid,
                moving,
                fu_grid,
                (box.min(axis=0), box.max(axis=0) + 1),
                global_m,
                MAX_LOCAL_SHIFT_MM + region_mm / 2,
            )
            try:
                matrix = register_rigid(
                    f_crop,
                    f_grid,
                    m_crop,
                    m_grid,
                    initial=global_m,
                    iterations=100,
                    max_step_mm=0.5,
                    metric=metric,
                    min_step_mm=MIN_STEP_MM,
                    lever_arm_mm=lever_arm,
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
