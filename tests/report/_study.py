"""Hand-made study tables and a synthetic sagittal disc exam for the reporting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

FIVE = ("AF_anterior", "NP_anterior", "NP_central", "NP_posterior", "AF_posterior")
ALL_ROIS = (*FIVE, "NP", "AF", "disc")
LEVEL_NUMBER = {"T12-L1": 0, "L1-L2": 1, "L2-L3": 2, "L3-L4": 3, "L4-L5": 4, "L5-S1": 5}


def measurement_rows(subject, visit, months, level, role, t2_by_roi, *, n_voxels=20, method="nlls"):
    """One row per ROI of one disc at one visit, in the measurements.csv layout."""
    return [
        {
            "subject": subject,
            "visit": visit,
            "months": months,
            "level": level,
            "role": role,
            "roi": roi,
            "n_voxels": n_voxels,
            "n_excluded": 0,
            "t2_mean_ms": t2,
            "t2_median_ms": t2,
            "t2_sd_ms": 4.0,
            "method": method,
        }
        for roi, t2 in t2_by_roi.items()
    ]


def cohort(n_subjects=8, visits=(("M0", 0), ("M12", 12)), seed=0, effect_pct=None):
    """A small cohort: per subject an index disc L4-L5 and controls L2-L3, L3-L4, all 8 ROIs.

    The index disc's T2 at visit t is baseline * (1 + effect_pct[subject] / 100 * months / 12);
    controls stay at baseline times a known small factor. Returns (measurements, truth) where
    truth maps (subject, level, roi, visit) -> % of baseline.
    """
    rng = np.random.default_rng(seed)
    effect_pct = effect_pct or {
        f"S{s:02d}": float(rng.uniform(-10, 20)) for s in range(1, n_subjects + 1)
    }
    rows, truth = [], {}
    for subject, effect in effect_pct.items():
        base = {
            roi: float(rng.uniform(100, 140))
            if "NP" in roi or roi == "disc"
            else float(rng.uniform(45, 70))
            for roi in ALL_ROIS
        }
        drift = {lv: float(rng.uniform(-3, 3)) for lv in ("L2-L3", "L3-L4")}
        for visit, months in visits:
            for level, role in (("L4-L5", "index"), ("L2-L3", "control"), ("L3-L4", "control")):
                factor = (
                    (1 + effect / 100 * months / 12)
                    if role == "index"
                    else (1 + drift[level] / 100 * months / 12)
                )
                t2 = {roi: base[roi] * factor for roi in ALL_ROIS}
                rows += measurement_rows(subject, visit, months, level, role, t2)
                for roi in ALL_ROIS:
                    truth[(subject, level, roi, visit)] = 100 * factor
    return pd.DataFrame(rows), truth


def sagittal_disc(
    t2_by_roi=None,
    *,
    shape=(80, 50, 5),
    voxel_mm=(0.5, 1.0, 4.0),
    tilt_deg=15.0,
    level="L4-L5",
    background_ms=35.0,
):
    """A sagittal exam with one tilted disc split into the five ROIs.

    Axis i runs anterior -> posterior (RAS -y), j superior -> inferior (RAS -z), k left -> right
    (RAS +x), as a DICOM sagittal series is usually stored. Returns ``(t2_ms, labels, affine,
    info)``; ``info`` holds the disc's label values and a square bright marker superior to the
    disc (``marker_ms``, ``marker_mm``: its side) for orientation and aspect checks.
    """
    t2_by_roi = t2_by_roi or dict(zip(FIVE, (55.0, 110.0, 130.0, 115.0, 65.0), strict=True))
    ni, nj, nk = shape
    di, dj, dk = voxel_mm
    affine = np.array(
        [
            [0.0, 0.0, dk, -dk * (nk - 1) / 2],
            [-di, 0.0, 0.0, di * (ni - 1) / 2],
            [0.0, -dj, 0.0, dj * (nj - 1) / 2],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    i, j = np.meshgrid(np.arange(ni), np.arange(nj), indexing="ij")
    a_mm = -(i * di - di * (ni - 1) / 2)  # anterior coordinate (RAS y)
    s_mm = -(j * dj - dj * (nj - 1) / 2)  # superior coordinate (RAS z)
    t = np.deg2rad(tilt_deg)
    # disc axis from anterior to posterior, tilted; u in [0, 1) front to back, v across
    length, height = 30.0, 10.0
    p_mm = -a_mm  # posterior coordinate
    u = (p_mm * np.cos(t) + s_mm * np.sin(t)) / length + 0.5
    v = s_mm * np.cos(t) - p_mm * np.sin(t)
    inside = (u >= 0) & (u < 1) & (np.abs(v) < height / 2)
    band = np.clip(np.floor(u * 5).astype(int), 0, 4) + 1
    n = LEVEL_NUMBER[level]
    plane_labels = np.where(inside, 10 * n + band, 0)
    plane_t2 = np.full((ni, nj), background_ms)
    for k, roi in enumerate(FIVE, start=1):
        plane_t2[plane_labels == 10 * n + k] = t2_by_roi[roi]
    marker_mm = 6.0
    marker = (np.abs(a_mm) < marker_mm / 2) & (np.abs(s_mm - 14.0) < marker_mm / 2)
    marker_ms = 190.0
    plane_t2[marker] = marker_ms
    t2 = np.repeat(plane_t2[:, :, None], nk, axis=2)
    labels = np.zeros(shape, np.int32)
    labels[:, :, nk // 2] = plane_labels  # ROIs on the mid slice only
    info = {
        "labels": {10 * n + k: roi for k, roi in enumerate(FIVE, start=1)},
        "t2_by_roi": t2_by_roi,
        "marker_ms": marker_ms,
        "marker_mm": marker_mm,
        "mid_slice": nk // 2,
    }
    return t2, labels, affine, info
