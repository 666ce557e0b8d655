"""One synthetic sagittal multi-echo spin-echo exam of the lumbar spine, with its ground truth.

:func:`make_exam` simulates the exam; :meth:`Exam.write` writes it as DICOM (the way scanners do)
and/or NIfTI + JSON, with the truth files beside it::

    <folder>/dicom/          one file per slice per echo (or one enhanced multi-frame file)
    <folder>/nifti/mese.nii.gz + mese.json        (optional)
    <folder>/truth/t2.nii.gz  t1.nii.gz  s0.nii.gz  b1.nii.gz  labels.nii.gz  purity.nii.gz
                   rois.nii.gz  rois.json  discs.json  truth.json

All maps are on the exam grid with the series' affine. ``discs.json`` is in the format of
docs/reference/formats.md (true corners, outline and centre of each lumbar disc on the mid-sagittal
slice, patient RAS mm) plus the slice index; ``rois.nii.gz``/``rois.json`` label the true ROI bands
as the ROI step labels its own (``10 * n + k``: ``n`` = 1 for L1-L2 ... 5 for L5-S1, ``k`` = 1..5
anterior to posterior); ``truth.json`` holds the true T2 of every ROI and the exam's parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discT2._version import __version__
from discT2.epg import sinc_slice_profile
from discT2.errors import InputError
from discT2.io.nifti import save_map, save_nifti_series
from discT2.phantom.anatomy import LEVELS, TRUTH_LEVELS, SpineModel, SpineShape
from discT2.phantom.signal import (
    VoxelTruth,
    add_rician_noise,
    b1_field,
    receive_field,
    simulate_voxels,
)
from discT2.phantom.tissues import DISC_CODE, ROI_NAMES
from discT2.series import MultiEchoSeries

__all__ = ["DiscTruth", "Exam", "Pose", "Protocol", "make_exam", "roi_label"]

logger = logging.getLogger(__name__)

#: Default transmit-field pattern (weights of y, z, y^2, z^2, yz, x; see ``b1_field``).
DEFAULT_B1_COEFFICIENTS: tuple[float, ...] = (0.35, -0.5, -1.0, -0.7, 0.25, 0.1)
#: Largest value stored (12-bit scanners); noisy data are clipped to it.
MAX_SIGNAL = 4095.0
_DERIVED = {"NP": (1, 2, 3), "AF": (0, 4), "disc": (0, 1, 2, 3, 4)}


@dataclass(frozen=True)
class Protocol:
    """Acquisition of a sagittal multi-echo spin-echo (CPMG) series.

    Attributes
    ----------
    matrix : (int, int)
        In-plane size ``(columns, rows)``: columns run anterior to posterior (``i``), rows
        superior to inferior (``j``), as on a sagittal scanner image.
    pixel_mm : float
        In-plane pixel size.
    n_slices : int
        Sagittal slices; ``k`` runs towards the patient's right (see ``affine``).
    slice_thickness_mm, slice_gap_mm : float
        Excited thickness and the gap between slices.
    n_echoes, echo_spacing_ms : int, float
        Echo train; echo ``n`` is at ``n * echo_spacing_ms``.
    repetition_time_ms : float
        TR.
    refocusing_deg, excitation_deg : float
        Nominal flip angles.
    field_strength_t : float
        Recorded in the metadata (tissue values do not change with it).
    b1_range : (float, float)
        Range of the transmit scale over the field of view.
    snr : float
        ``peak_signal / sigma``: signal-to-noise of proton density 1, fully relaxed, at the coil.
        A healthy nucleus at the discs (coil sensitivity ~0.6, T1 saturation ~0.6) then has an
        echo-1 SNR of about ``0.22 * snr`` with the 2-D slice profile (whose edges refocus
        less) and ``0.33 * snr`` with a uniform slice; ``truth.json`` reports it per disc.
    peak_signal : float
        Signal of proton density 1, fully relaxed, at unit coil sensitivity (stored values of
        siemens/ge DICOM must stay within 12 bits).
    slice_profile : bool
        Average the EPG over the flip-angle profiles of Hanning-windowed sinc excitation and
        refocusing pulses (Bloch-simulated, :func:`discT2.epg.sinc_slice_profile`; refocusing
        slab 1.2x wider), as a 2-D multi-slice acquisition gives (default); False: a uniform
        slice.
    supersample : int
        Odd number of sub-samples per voxel edge for partial volume.
    fov_center_ras_mm : (float, float, float)
        Centre of the field of view (scanner coordinates).
    coil_y_mm : float or None
        Position of the posterior spine coil (the table); ``receive_falloff_mm`` None makes the
        coil uniform.
    receive_falloff_mm : float or None
        Decay length of the coil sensitivity away from the coil.
    series_description : str
        Written to the metadata and DICOM.
    """

    matrix: tuple[int, int] = (128, 160)
    pixel_mm: float = 1.5
    n_slices: int = 5
    slice_thickness_mm: float = 4.0
    slice_gap_mm: float = 0.4
    n_echoes: int = 10
    echo_spacing_ms: float = 12.0
    repetition_time_ms: float = 2000.0
    refocusing_deg: float = 180.0
    excitation_deg: float = 90.0
    field_strength_t: float = 1.5
    b1_range: tuple[float, float] = (0.8, 1.0)
    snr: float = 225.0
    peak_signal: float = 3000.0
    slice_profile: bool = True
    supersample: int = 3
    fov_center_ras_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    coil_y_mm: float = -80.0
    receive_falloff_mm: float | None = 150.0
    series_description: str = "T2 MAP MESE SAG"

    def __post_init__(self) -> None:
        checks = {
            "matrix": len(self.matrix) == 2 and min(self.matrix) >= 4,
            "pixel_mm": self.pixel_mm > 0,
            "n_slices": self.n_slices >= 1,
            "slice_thickness_mm": self.slice_thickness_mm > 0,
            "slice_gap_mm": self.slice_gap_mm >= 0,
            "n_echoes": self.n_echoes >= 2,
            "echo_spacing_ms": self.echo_spacing_ms > 0,
            "repetition_time_ms": self.repetition_time_ms > self.echo_spacing_ms * self.n_echoes,
            "snr": self.snr > 0,
            "peak_signal": self.peak_signal > 0,
            "supersample": self.supersample >= 1 and self.supersample % 2 == 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = {name: getattr(self, name) for name in bad}
            raise InputError(
                f"Protocol: invalid {values} (matrix >= 4x4, positive sizes and times, at least "
                "2 echoes, TR longer than the echo train, odd supersample)"
            )

    @property
    def echo_times_ms(self) -> np.ndarray:
        return self.echo_spacing_ms * np.arange(1, self.n_echoes + 1)

    @property
    def slice_spacing_mm(self) -> float:
        return self.slice_thickness_mm + self.slice_gap_mm

    @property
    def shape(self) -> tuple[int, int, int]:
        return (int(self.matrix[0]), int(self.matrix[1]), int(self.n_slices))

    @property
    def affine(self) -> np.ndarray:
        """Voxel to RAS mm: ``i`` posterior, ``j`` inferior, ``k`` towards patient right.

        This is the grid of a standard sagittal scanner image (row direction anterior to
        posterior, column direction superior to inferior; DICOM ImageOrientationPatient
        ``[0, 1, 0, 0, 0, -1]``).
        """
        p, sp = self.pixel_mm, self.slice_spacing_mm
        axes = np.array([[0.0, 0.0, sp], [-p, 0.0, 0.0], [0.0, -p, 0.0]])
        n_i, n_j, n_k = self.shape
        centre = np.asarray(self.fov_center_ras_mm, dtype=float)
        origin = centre - axes @ (np.array([n_i, n_j, n_k], dtype=float) - 1.0) / 2.0
        affine = np.eye(4)
        affine[:3, :3] = axes
        affine[:3, 3] = origin
        return affine


@dataclass(frozen=True)
class Pose:
    """Position of the patient's spine in the scanner: a rigid in-plane move.

    Attributes
    ----------
    rotation_deg : float
        Rotation about the left-right axis (in the sagittal plane); positive turns anterior
        towards superior.
    translation_mm : (float, float, float)
        Shift (x = left-right, i.e. a slice offset; y = anterior; z = superior).
    """

    rotation_deg: float = 0.0
    translation_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def matrix(self) -> np.ndarray:
        """Anatomy frame to scanner RAS mm, 4x4."""
        a = np.radians(self.rotation_deg)
        out = np.eye(4)
        out[1:3, 1:3] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
        out[:3, 3] = np.asarray(self.translation_mm, dtype=float)
        return out

    def apply(self, points_ras_mm: np.ndarray) -> np.ndarray:
        """Move anatomy-frame points ``(..., 3)`` to scanner coordinates.

        Parameters
        ----------
        points_ras_mm : ndarray, shape (..., 3)
            Points in the anatomy frame (RAS mm).
        """
        m = self.matrix
        return np.asarray(points_ras_mm, float) @ m[:3, :3].T + m[:3, 3]


def roi_label(level: str, roi_index: int) -> int:
    """Label of an ROI of a disc in the truth's ``rois.nii.gz``.

    The label is ``10 * n + k`` with n = 1 for L1-L2 ... 5 for L5-S1 and k = 1..5.

    Parameters
    ----------
    level : str
        Disc level, ``'L1-L2'`` ... ``'L5-S1'``.
    roi_index : int
        0 (AF_anterior) to 4 (AF_posterior).

    Returns
    -------
    int
        The label value.
    """
    return 10 * (TRUTH_LEVELS.index(level) + 1) + int(roi_index) + 1


@dataclass
class DiscTruth:
    """Ground truth of one lumbar disc in one exam.

    Attributes
    ----------
    level : str
        ``'L4-L5'`` etc.
    slice_index : int
        The mid-sagittal slice the geometry lies on.
    corners_ras_mm : dict of str to ndarray (3,)
        AS, PS, AI, PI where the annulus meets the endplates.
    outline_ras_mm : ndarray, shape (N, 3)
        Disc outline on that slice (the corners are vertices of it).
    center_ras_mm : ndarray, shape (3,)
        Bilinear centre of the corner quadrilateral.
    roi_t2_ms, roi_t1_ms : dict of str to float
        True T2/T1 of each ROI (constant within it).
    roi_n_voxels : dict of str to int
        Voxels whose centre falls in each ROI band on the slice (no margin).
    roi_n_voxels_per_slice : dict of str to list of int
        The same on every slice (the corners extruded left-right, disc voxels only).
    derived_t2_ms : dict of str to float
        NP (ROIs 2-4), AF (1 + 5) and whole disc, voxel-weighted with ``roi_n_voxels``.
    geometry : dict
        Tilt, height, AP length, Pfirrmann grade it imitates.
    b1_mean, snr_echo1 : dict of str to float
        Mean transmit scale and noise-free first-echo SNR of each ROI on the slice.
    """

    level: str
    slice_index: int
    corners_ras_mm: dict[str, np.ndarray]
    outline_ras_mm: np.ndarray
    center_ras_mm: np.ndarray
    roi_t2_ms: dict[str, float]
    roi_t1_ms: dict[str, float]
    roi_n_voxels: dict[str, int]
    roi_n_voxels_per_slice: dict[str, list[int]]
    derived_t2_ms: dict[str, float]
    geometry: dict[str, Any]
    b1_mean: dict[str, float] = field(default_factory=dict)
    snr_echo1: dict[str, float] = field(default_factory=dict)

    def discs_json_entry(self) -> dict[str, Any]:
        """This disc as a ``discs.json`` entry (docs/reference/formats.md), plus ``slice_index``."""
        return {
            "level": self.level,
            "corners_ras_mm": {k: [float(v) for v in p] for k, p in self.corners_ras_mm.items()},
            "outline_ras_mm": [[float(v) for v in p] for p in self.outline_ras_mm],
            "center_ras_mm": [float(v) for v in self.center_ras_mm],
            "slice_index": int(self.slice_index),
        }

    def truth_entry(self) -> dict[str, Any]:
        rois = {
            name: {
                "label": roi_label(self.level, i),
                "t2_ms": self.roi_t2_ms[name],
                "t1_ms": self.roi_t1_ms[name],
                "n_voxels": self.roi_n_voxels[name],
                "n_voxels_per_slice": self.roi_n_voxels_per_slice[name],
                "b1_mean": self.b1_mean.get(name),
                "snr_echo1": self.snr_echo1.get(name),
            }
            for i, name in enumerate(ROI_NAMES)
        }
        return {
            "level": self.level,
            "slice_index": int(self.slice_index),
            "rois": rois,
            "derived_t2_ms": self.derived_t2_ms,
            "geometry": self.geometry,
        }


@dataclass
class Exam:
    """A simulated exam: the noisy series, the noise-free signal and the ground truth.

    Attributes
    ----------
    series : MultiEchoSeries
        Noisy magnitude data (float32, clipped to 0-4095) on the exam grid.
    truth : VoxelTruth
        Noise-free signal and truth maps (T2, T1, S0, B1, labels, purity) on the same grid.
    discs : dict of str to DiscTruth
        Per lumbar disc (``L1-L2`` ... ``L5-S1``).
    roi_labels : ndarray of uint8, shape (I, J, K)
        True ROI bands on every slice, labelled as :func:`roi_label` (0 elsewhere).
    mid_slice : int
        Index of the slice nearest the spine's mid-sagittal plane.
    sigma : float
        Standard deviation of each real/imaginary noise channel.
    protocol : Protocol
    pose : Pose
    shape : SpineShape
    info : dict
        Everything needed to reproduce the exam (seed, B1 pattern, software version).
    """

    series: MultiEchoSeries
    truth: VoxelTruth
    discs: dict[str, DiscTruth]
    roi_labels: np.ndarray
    mid_slice: int
    sigma: float
    protocol: Protocol
    pose: Pose
    shape: SpineShape
    info: dict[str, Any]

    def discs_json(self) -> dict[str, Any]:
        """The reader's ``discs.json`` (docs/reference/formats.md) with the true geometry."""
        return {
            "discs": [d.discs_json_entry() for d in self.discs.values()],
            "mid_sagittal_slice": int(self.mid_slice),
            "source": "discT2.phantom ground truth (corners where the annulus meets the endplates)",
        }

    def truth_json(self) -> dict[str, Any]:
        """Per-disc ROI truth and the exam's parameters (no patient-identifying fields)."""
        return {
            "software": f"discT2 {__version__}",
            "mid_sagittal_slice": int(self.mid_slice),
            "noise_sigma": self.sigma,
            "rois": list(ROI_NAMES),
            "roi_fractions": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            "roi_membership": "voxel centre inside the band between the endplate lines, no margin",
            "derived": {
                "NP": "ROIs 2-4",
                "AF": "ROIs 1 and 5",
                "disc": "ROIs 1-5",
                "weighting": "voxel count on the mid-sagittal slice",
            },
            "discs": [d.truth_entry() for d in self.discs.values()],
            "exam": self.info,
        }

    def write(
        self,
        folder: str | os.PathLike,
        *,
        dicom: bool = True,
        nifti: bool = False,
        truth: bool = True,
        vendor: str = "siemens",
        enhanced: bool = False,
        series_number: int = 301,
        patient: Mapping[str, str] | None = None,
        study_instance_uid: str | None = None,
        frame_of_reference_uid: str | None = None,
        acquisition_datetime: dt.datetime | None = None,
        uid_seed: str | None = None,
    ) -> dict[str, Path]:
        """Write the exam (DICOM and/or NIfTI) and its truth files under ``folder``.

        Parameters
        ----------
        folder : path-like
            Exam folder (created).
        dicom, nifti, truth : bool
            What to write.
        vendor, enhanced, series_number, patient, study_instance_uid : optional
            Passed to :func:`discT2.io.dicom_write.write_dicom_series`.
        frame_of_reference_uid, acquisition_datetime, uid_seed : optional
            Passed to :func:`discT2.io.dicom_write.write_dicom_series`.

        Returns
        -------
        dict of str to Path
            ``'dicom'``, ``'nifti'``, ``'truth'`` folders or files that were written.
        """
        from discT2.io.dicom_write import VENDORS, write_dicom_series

        folder = Path(folder)
        written: dict[str, Path] = {}
        if dicom:
            write_dicom_series(
                self.series,
                folder / "dicom",
                vendor=vendor,
                enhanced=enhanced,
                series_number=series_number,
                series_description=self.protocol.series_description,
                patient=patient,
                study_instance_uid=study_instance_uid,
                frame_of_reference_uid=frame_of_reference_uid,
                acquisition_datetime=acquisition_datetime,
                uid_seed=uid_seed,
            )
            written["dicom"] = folder / "dicom"
        if nifti:
            meta = dict(self.series.meta)
            if vendor in VENDORS:
                meta.update(
                    vendor=vendor,
                    manufacturer=VENDORS[vendor]["Manufacturer"],
                    model=VENDORS[vendor]["ManufacturerModelName"],
                )
            if acquisition_datetime is not None:
                meta["acquisition_date"] = acquisition_datetime.date().isoformat()
                meta["acquisition_time"] = acquisition_datetime.time().isoformat("seconds")
            series = MultiEchoSeries(
                self.series.data, self.series.echo_times_ms, self.series.affine, meta
            )
            written["nifti"] = save_nifti_series(series, folder / "nifti" / "mese.nii.gz")
        if truth:
            written["truth"] = self.write_truth(folder / "truth")
        return written

    def write_truth(self, folder: str | os.PathLike) -> Path:
        """Write the truth maps and JSON files into ``folder``; returns it.

        Parameters
        ----------
        folder : path-like
            The truth folder (created).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        affine = self.series.affine
        t = self.truth
        save_map(t.t2_ms, affine, folder / "t2.nii.gz", dtype=np.float32)
        save_map(t.t1_ms, affine, folder / "t1.nii.gz", dtype=np.float32)
        save_map(t.s0, affine, folder / "s0.nii.gz", dtype=np.float32)
        save_map(t.b1, affine, folder / "b1.nii.gz", dtype=np.float32)
        save_map(t.labels, affine, folder / "labels.nii.gz", dtype=np.uint8)
        save_map(t.purity, affine, folder / "purity.nii.gz", dtype=np.float32)
        save_map(self.roi_labels, affine, folder / "rois.nii.gz", dtype=np.uint8)
        labels = {
            str(roi_label(level, i)): {"level": level, "roi": name}
            for level in self.discs
            for i, name in enumerate(ROI_NAMES)
        }
        _write_json(folder / "rois.json", {"labels": labels, "source": "discT2.phantom truth"})
        _write_json(folder / "discs.json", self.discs_json())
        _write_json(folder / "truth.json", self.truth_json())
        return folder


def make_exam(
    shape: SpineShape | None = None,
    *,
    protocol: Protocol | None = None,
    pose: Pose | None = None,
    b1_coefficients: Sequence[float] | None = None,
    seed: int | Sequence[int] = 0,
    noise: bool = True,
) -> Exam:
    """Simulate one sagittal multi-echo spin-echo exam of a lumbar spine, with ground truth.

    Parameters
    ----------
    shape : SpineShape, optional
        The subject's anatomy and disc relaxation (default: an average healthy adult).
    protocol : Protocol, optional
        Acquisition (default: 128 x 160 at 1.5 mm, 5 slices of 4 mm, 10 echoes at 12 ms).
    pose : Pose, optional
        Where the spine lies in the scanner (repositioning between visits).
    b1_coefficients : sequence of 6 float, optional
        Transmit-field pattern (see :func:`discT2.phantom.signal.b1_field`).
    seed : int or sequence of int
        Seed of the noise.
    noise : bool
        Add Rician noise (False: the series holds the noise-free signal).

    Returns
    -------
    Exam

    Examples
    --------
    >>> from discT2.phantom import Protocol, make_exam
    >>> exam = make_exam(protocol=Protocol(matrix=(48, 64), pixel_mm=4.0, n_slices=1, n_echoes=4))
    >>> exam.series.shape, exam.series.orientation
    ((48, 64, 1), 'sagittal')
    >>> sorted(exam.discs)[0], round(exam.discs["L4-L5"].roi_t2_ms["NP_central"], 1)
    ('L1-L2', 128.0)
    """
    shape = shape or SpineShape()
    protocol = protocol or Protocol()
    pose = pose or Pose()
    coefficients = np.asarray(
        DEFAULT_B1_COEFFICIENTS if b1_coefficients is None else b1_coefficients, dtype=float
    )
    model = SpineModel(shape)
    affine = protocol.affine
    n_i, n_j, n_k = protocol.shape
    ijk = np.stack(np.meshgrid(np.arange(n_i), np.arange(n_j), np.arange(n_k), indexing="ij"), -1)
    centres = ijk @ affine[:3, :3].T + affine[:3, 3]
    half_fov = 0.5 * np.array(
        [
            max(protocol.slice_spacing_mm * n_k, 1.0),
            protocol.pixel_mm * n_i,
            protocol.pixel_mm * n_j,
        ]
    )
    normalised = (centres - np.asarray(protocol.fov_center_ras_mm)) / half_fov
    b1 = b1_field(normalised.reshape(-1, 3), coefficients, protocol.b1_range).reshape(n_i, n_j, n_k)
    # to 0.001 (0.18 degrees of a 180-degree pulse): the truth map then compresses well
    b1 = np.round(b1, 3)
    receive = receive_field(centres[..., 1], protocol.coil_y_mm, protocol.receive_falloff_mm)
    profile = sinc_slice_profile() if protocol.slice_profile else None
    truth = simulate_voxels(
        model,
        affine=affine,
        shape=protocol.shape,
        slice_thickness_mm=protocol.slice_thickness_mm,
        anatomy_to_world=pose.matrix,
        b1=b1,
        receive=receive,
        echo_spacing_ms=protocol.echo_spacing_ms,
        n_echoes=protocol.n_echoes,
        repetition_time_ms=protocol.repetition_time_ms,
        refocusing_deg=protocol.refocusing_deg,
        excitation_deg=protocol.excitation_deg,
        peak_signal=protocol.peak_signal,
        slice_profile=profile,
        supersample=protocol.supersample,
    )
    sigma = protocol.peak_signal / protocol.snr
    if noise:
        rng = np.random.default_rng(seed)
        data = add_rician_noise(truth.signal, sigma, rng)
    else:
        data = truth.signal.copy()
    data = np.clip(data, 0.0, MAX_SIGNAL)

    slice_x = affine[0, 3] + affine[0, 2] * np.arange(n_k)
    mid = int(np.argmin(np.abs(slice_x - pose.translation_mm[0])))
    meta = {
        "field_strength_t": protocol.field_strength_t,
        "repetition_time_ms": protocol.repetition_time_ms,
        "echo_spacing_ms": protocol.echo_spacing_ms,
        "excitation_angle_deg": protocol.excitation_deg,
        "refocusing_angle_deg": protocol.refocusing_deg,
        "echo_train_length": protocol.n_echoes,
        "sequence_name": "phantom CPMG MESE",
        "series_description": protocol.series_description,
        "slice_thickness_mm": protocol.slice_thickness_mm,
        "slice_spacing_mm": protocol.slice_spacing_mm,
        "slice_gap_mm": protocol.slice_gap_mm,
        "pixel_spacing_mm": [protocol.pixel_mm, protocol.pixel_mm],
        "intensity": "synthetic magnitude",
        # slice-selective 2-D multi-slice: the fit models the slice profile
        "acquisition_type": "2D",
    }
    series = MultiEchoSeries(data, protocol.echo_times_ms, affine, meta)
    discs, roi_labels = _disc_truth(model, truth, pose, affine, mid, sigma)
    info = {
        "seed": _jsonable_seed(seed),
        "noise": bool(noise),
        "protocol": _jsonable(asdict(protocol)),
        "pose": _jsonable(asdict(pose)),
        "anatomy": _shape_info(shape),
        "b1_coefficients": coefficients.tolist(),
        "slice_profile": None
        if profile is None
        else {"excitation": profile[0].tolist(), "refocusing": profile[1].tolist(),
              "positions_in_half_slice": "midpoints of equal steps from the centre to 1.5 "
              "excited slice thicknesses (discT2.epg.sinc_slice_profile)"},
        "signal_model": "S = S0 * cpmg_signal(T2, echo_spacing, n_echoes, b1=B1, t1_ms=T1, "
        "refocusing_deg, excitation_deg[, slice_profile]) for pure voxels; partial volume by "
        f"{protocol.supersample}^3 super-sampling; Rician noise sigma = peak_signal / snr",
    }  # fmt: skip
    exam = Exam(
        series=series,
        truth=truth,
        discs=discs,
        roi_labels=roi_labels,
        mid_slice=mid,
        sigma=float(sigma),
        protocol=protocol,
        pose=pose,
        shape=shape,
        info=info,
    )
    return exam


def _disc_truth(model, truth: VoxelTruth, pose: Pose, affine, mid: int, sigma: float):
    n_i, n_j, n_k = truth.labels.shape
    x_mid = float(affine[0, 3] + affine[0, 2] * mid)
    roi_labels = np.zeros((n_i, n_j, n_k), dtype=np.uint8)
    discs: dict[str, DiscTruth] = {}
    for level in TRUTH_LEVELS:
        disc = model.discs[level]
        index = LEVELS.index(level)
        s, u = truth.disc_s[level], truth.disc_u[level]
        in_quad = (s >= 0.0) & (s <= 1.0) & (u >= 0.0) & (u <= 1.0)
        band = disc.band_index(s)
        counts = {name: [] for name in ROI_NAMES}
        for k in range(n_k):
            member = (
                in_quad
                & (truth.labels[:, :, k] == DISC_CODE)
                & (truth.disc_index[:, :, k] == index)
            )
            for b, name in enumerate(ROI_NAMES):
                sel = member & (band == b)
                counts[name].append(int(sel.sum()))
                roi_labels[:, :, k][sel] = roi_label(level, b)
        n_mid = {name: counts[name][mid] for name in ROI_NAMES}
        t2 = dict(zip(ROI_NAMES, disc.relaxation.band_t2_ms, strict=True))
        t1 = dict(zip(ROI_NAMES, disc.relaxation.band_t1_ms, strict=True))
        derived = {}
        for name, members in _DERIVED.items():
            n = sum(n_mid[ROI_NAMES[b]] for b in members)
            weighted = sum(n_mid[ROI_NAMES[b]] * t2[ROI_NAMES[b]] for b in members)
            derived[name] = float(weighted / n) if n else None
        b1_mean, snr = {}, {}
        for b, name in enumerate(ROI_NAMES):
            sel = roi_labels[:, :, mid] == roi_label(level, b)
            b1_mean[name] = float(truth.b1[:, :, mid][sel].mean()) if sel.any() else None
            snr[name] = float(truth.signal[:, :, mid, 0][sel].mean() / sigma) if sel.any() else None

        def world(points_yz, x=x_mid):
            pts = np.atleast_2d(points_yz)
            anat = np.column_stack([np.zeros(len(pts)), pts])
            moved = pose.apply(anat)
            moved[:, 0] = x
            return moved

        corners = {k: world(p)[0] for k, p in disc.corners.items()}
        geometry = model.summary()[level]
        discs[level] = DiscTruth(
            level=level,
            slice_index=mid,
            corners_ras_mm=corners,
            outline_ras_mm=world(disc.outline()),
            center_ras_mm=world(disc.quad.point(0.5, 0.5))[0],
            roi_t2_ms=t2,
            roi_t1_ms=t1,
            roi_n_voxels=n_mid,
            roi_n_voxels_per_slice=counts,
            derived_t2_ms=derived,
            geometry={
                **geometry,
                "tilt_in_image_deg": round(geometry["tilt_deg"] + pose.rotation_deg, 3),
            },
            b1_mean=b1_mean,
            snr_echo1=snr,
        )
    return discs, roi_labels


def _shape_info(shape: SpineShape) -> dict[str, Any]:
    info = {k: v for k, v in asdict(shape).items() if k != "discs"}
    info["discs"] = {level: _jsonable(asdict(shape.disc(level))) for level in LEVELS}
    return _jsonable(info)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return obj


def _jsonable_seed(seed: int | Sequence[int]) -> Any:
    return int(seed) if np.isscalar(seed) else [int(v) for v in seed]


_NUMBER_LIST = re.compile(r"\[\s+(-?[0-9][^\[\]{}\"]*?)\s+\]")


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    """Indented JSON with lists of numbers kept on one line (full float precision)."""
    text = json.dumps(_jsonable(payload), indent=1, allow_nan=False)
    text = _NUMBER_LIST.sub(
        lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, path)
