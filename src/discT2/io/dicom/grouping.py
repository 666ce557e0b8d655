"""From frames to series: group, sort into a slice x echo grid, merge split series, choose one.

Rules (see ``docs/reference/dicom.md``):

- A series is a SeriesInstanceUID. Its magnitude images are the candidate echoes; T2 maps in it
  become a separate ``'map'`` entry; localizers, phase/real/imaginary and derived images are
  skipped and counted.
- A geometry group is the set of images with the same frame of reference, orientation (within
  1e-3 per direction cosine), matrix and pixel spacing. A series whose echo images
  fall into several groups is refused (mixed orientations).
- Slices are ordered by ImagePositionPatient projected on the normal ``row x column`` (positions
  within 0.02 mm are one slice), never by file name or InstanceNumber; echoes by EchoTime (within
  0.01 ms). Every slice needs exactly one image per echo time.
- Series of the same study and geometry, acquired with the same protocol (TR, flip angle,
  sequence, echo train) within 30 minutes and with disjoint echo times are merged.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from discT2.errors import DicomSeriesError, InputError
from discT2.io.dicom.files import collect_files
from discT2.io.dicom.frames import Frame, SkipFile, read_frames
from discT2.io.dicom.geometry import cluster, slice_normal, stack_affine, uniform_spacing_problem
from discT2.io.dicom.info import DicomEchoTimeError, DicomGeometryError, SeriesInfo
from discT2.io.nifti import vendor_name
from discT2.series import orientation_name

__all__ = ["Candidate", "DicomScan", "scan_dicom", "select_candidate"]

logger = logging.getLogger(__name__)

SLICE_TOLERANCE_MM = 0.02
ECHO_TOLERANCE_MS = 0.01
ORIENTATION_TOLERANCE = 1e-3
SPACING_TOLERANCE_MM = 1e-3
IN_PLANE_TOLERANCE_MM = 0.1
MERGE_WINDOW_S = 30 * 60
_MAX_LISTED = 4


@dataclass
class Candidate:
    """A series with its images laid out (or the reason they cannot be)."""

    info: SeriesInfo
    frames: list[Frame]
    error: type[InputError] = DicomSeriesError
    grid: np.ndarray | None = None  # object array (K, E) of Frame
    echo_times_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    affine: np.ndarray | None = None
    positions_lps: np.ndarray | None = None
    slice_positions_mm: np.ndarray | None = None


@dataclass
class DicomScan:
    """Everything found under a path: series candidates and what was skipped.

    Attributes
    ----------
    root : Path
        The path that was scanned.
    candidates : list
        The multi-echo series and scanner maps found (their :class:`SeriesInfo` in ``series``).
    skipped : dict of str to int
        Files or images left out, counted by reason (``'not DICOM'``, ``'localizer'``, ...).
    notes : list of str
        What the reader decided and why (merges, duplicates, placeholders).
    n_files : int
        Files looked at.
    singles : list
        Single-echo series (not candidates; named when a user asks for one).
    """

    root: Path
    candidates: list[Candidate]
    skipped: dict[str, int]
    notes: list[str]
    n_files: int
    singles: list[Candidate] = field(default_factory=list)  # single-echo series, not candidates

    @property
    def series(self) -> list[SeriesInfo]:
        return [c.info for c in self.candidates]

    def skipped_text(self) -> str:
        """``3 not DICOM, 1 DICOMDIR`` (empty when nothing was skipped)."""
        return ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))


@dataclass
class _Grid:
    """Result of laying out images of one geometry group."""

    frames: list[Frame]
    grid: np.ndarray | None = None
    echo_times_ms: np.ndarray = field(default_factory=lambda: np.empty(0))
    slice_positions_mm: np.ndarray = field(default_factory=lambda: np.empty(0))
    positions_lps: np.ndarray | None = None
    affine: np.ndarray | None = None
    problem: str | None = None
    error: type[InputError] = DicomSeriesError


def scan_dicom(
    path: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    merge: bool = True,
) -> DicomScan:
    """Read the headers under ``path`` and lay out every series found.

    Parameters
    ----------
    path : path-like or sequence of path-like
        Folder (searched recursively), file, DICOMDIR, or list of files.
    merge : bool
        Merge echoes split over several series of one acquisition (logged as a warning).

    Raises
    ------
    InputError
        The path does not exist.
    DicomSeriesError
        No DICOM MR image was found.
    """
    root, files, skipped = collect_files(path)
    frames: list[Frame] = []
    for f in files:
        try:
            frames.extend(read_frames(f))
        except SkipFile as skip:
            skipped[skip.reason] = skipped.get(skip.reason, 0) + 1
            logger.debug("skipped %s: %s %s", f, skip.reason, skip.detail)
    scan = DicomScan(root, [], skipped, [], len(files))
    if not frames:
        found = f" (found {scan.skipped_text()})" if skipped else " (the folder is empty)"
        raise DicomSeriesError(f"{root}: no DICOM MR images found{found}")
    frames = _deduplicate(frames, scan)

    pool: list[tuple[Candidate, _Grid]] = []  # complete single-group series that may merge
    singles: list[Candidate] = []
    for series_frames in _by_series(frames):
        candidate, grid, maps = _analyse_series(series_frames, scan)
        scan.candidates.extend(maps)
        if candidate is None:
            continue
        single = candidate.info.n_echoes < 2 and candidate.error is not DicomEchoTimeError
        if grid is not None and grid.problem is None:
            pool.append((candidate, grid))
        if single:
            singles.append(candidate)
            continue
        scan.candidates.append(candidate)

    merged_away: set[int] = set()
    if merge:
        for parts in _merge_groups(pool):
            merged = _merge(parts, scan)
            if merged is None:
                continue
            merged_away.update(id(c) for c, _ in parts)
            scan.candidates.append(merged)
    scan.candidates = [c for c in scan.candidates if id(c) not in merged_away]
    for single in singles:
        if id(single) in merged_away:
            continue
        scan.singles.append(single)
        n = len(single.frames)
        scan.skipped["single-echo images"] = scan.skipped.get("single-echo images", 0) + n
        scan.notes.append(
            f"{single.info.label} has a single echo "
            f"(TE {single.info.echo_times_ms[0]:.4g} ms): not a multi-echo series"
        )
    scan.candidates.sort(key=_sort_key)
    for note in scan.notes:
        logger.info("%s: %s", root, note)
    return scan


def select_candidate(
    scan: DicomScan,
    series: int | str | SeriesInfo | None,
    *,
    kind: str = "multi-echo",
) -> Candidate:
    """Choose one candidate of ``kind`` by number, UID, description or :class:`SeriesInfo`.

    Raises
    ------
    DicomSeriesError
        Nothing matches, several match, or (without a choice) there is not exactly one candidate;
        the message lists the candidates.
    """
    root = scan.root
    pool = scan.candidates
    of_kind = [c for c in pool if c.info.kind == kind]
    if series is None:
        if len(of_kind) == 1:
            return of_kind[0]
        if not of_kind and kind == "multi-echo" and scan.singles:
            raise DicomEchoTimeError(
                f"{root}: no multi-echo series found: "
                + "; ".join(_single_text(c) for c in scan.singles)
                + _others_suffix(scan, kind)
            )
        if not of_kind:
            raise DicomSeriesError(f"{root}: {_nothing_found(scan, kind)}")
        raise DicomSeriesError(
            f"{root}: {len(of_kind)} {kind} series found; choose one with series= (number, UID "
            f"or description):\n{_listing(of_kind)}"
        )
    matches = _match(pool, series)
    if not matches and _match(scan.singles, series):
        single = _match(scan.singles, series)[0]
        raise DicomEchoTimeError(f"{root}: {_single_text(single)}")
    if not matches:
        raise DicomSeriesError(
            f"{root}: no series matches {_choice_text(series)}; found:\n"
            + (_listing(pool) or "  (no multi-echo series)")
            + _singles_suffix(scan)
            + _skipped_suffix(scan)
        )
    preferred = [c for c in matches if c.info.kind == kind] or matches
    if len(preferred) > 1:
        raise DicomSeriesError(
            f"{root}: {len(preferred)} series match {_choice_text(series)}; choose by UID:\n"
            f"{_listing(preferred)}"
        )
    return preferred[0]


# ---- grouping ------------------------------------------------------------------------------


def _deduplicate(frames: list[Frame], scan: DicomScan) -> list[Frame]:
    seen: dict[tuple[Any, ...], Frame] = {}
    uids: dict[tuple[str, int | None], int] = {}
    duplicates = 0
    for f in frames:
        if f.key in seen:
            duplicates += 1
            continue
        seen[f.key] = f
        if f.sop_instance_uid:
            uids[(f.sop_instance_uid, f.index)] = uids.get((f.sop_instance_uid, f.index), 0) + 1
    if duplicates:
        scan.skipped["duplicate copies"] = duplicates
        scan.notes.append(f"{duplicates} images were copies of others (same SOPInstanceUID)")
    shared = sum(n for n in uids.values() if n > 1)
    if shared:
        scan.notes.append(
            f"{shared} different images share SOPInstanceUIDs (broken UIDs, e.g. from an "
            "anonymiser); they are kept apart by position and echo time"
        )
    return list(seen.values())


def _by_series(frames: list[Frame]) -> list[list[Frame]]:
    groups: dict[tuple[str, ...], list[Frame]] = {}
    for f in frames:
        key = (f.series_uid,) if f.series_uid else (f.study_uid, str(f.series_number), "no-uid")
        groups.setdefault(key, []).append(f)
    return list(groups.values())


def _analyse_series(
    frames: list[Frame], scan: DicomScan
) -> tuple[Candidate | None, _Grid | None, list[Candidate]]:
    """The echo candidate (or None), its grid when it has one geometry group, and map entries."""
    first = frames[0]
    label = _label(first)
    echoes = [f for f in frames if f.role == "echo"]
    by_map: dict[str, list[Frame]] = {}
    notes: list[str] = []
    skipped_roles: dict[str, int] = {}
    for f in frames:
        if f.role == "map":
            by_map.setdefault(f.map_type or "MAP", []).append(f)
        elif f.role != "echo":
            skipped_roles[f.role] = skipped_roles.get(f.role, 0) + 1
    for role, n in skipped_roles.items():
        key = f"{role} images"
        scan.skipped[key] = scan.skipped.get(key, 0) + n
        notes.append(f"skipped {n} {role} image{'s' if n > 1 else ''}")
    maps = [_map_candidate(fs, map_type, notes, scan) for map_type, fs in by_map.items()]
    if not echoes:
        if skipped_roles and not maps:
            what = ", ".join(f"{n} {role}" for role, n in skipped_roles.items())
            scan.notes.append(f"{label}: only {what} images (no echoes)")
        return None, None, maps

    te = [f.echo_time_ms for f in echoes]
    known = [t for t in te if t is not None]
    distinct = cluster(np.array(known), ECHO_TOLERANCE_MS)[0] if known else np.empty(0)
    lacking_geometry = [f for f in echoes if _missing_geometry(f)]
    if lacking_geometry and len(distinct) < 2:
        scan.skipped["images without geometry"] = scan.skipped.get("images without geometry", 0)
        scan.skipped["images without geometry"] += len(echoes)
        scan.notes.append(f"{label}: no slice geometry; skipped")
        return None, None, maps
    if lacking_geometry:
        f = lacking_geometry[0]
        problem = (
            f"missing geometry tags: {f.label(scan.root)} lacks {_missing_geometry(f)}"
            + _more(len(lacking_geometry))
        )
        return _failed(echoes, notes, problem, DicomGeometryError, scan), None, maps
    if known and len(known) < len(te):
        lacking = [f for f in echoes if f.echo_time_ms is None]
        problem = (
            f"{lacking[0].label(scan.root)} has no EchoTime (0018,0081) or Effective Echo Time "
            f"(0018,9082) while the other images of the series do" + _more(len(lacking))
        )
        return _failed(echoes, notes, problem, DicomEchoTimeError, scan), None, maps

    groups = _geometry_groups(echoes)
    if len(groups) > 1:
        if len(distinct) < 2 and all(_one_per_slice(g) for g in groups):
            scan.skipped["single-echo images"] = scan.skipped.get("single-echo images", 0)
            scan.skipped["single-echo images"] += len(echoes)
            scan.notes.append(f"{label}: single-echo images in several orientations; skipped")
            return None, None, maps
        problem = "mixed orientations or geometries in one series: " + "; ".join(
            _group_text(g) for g in sorted(groups, key=len, reverse=True)
        )
        largest = max(groups, key=len)
        candidate = _failed(echoes, notes, problem, DicomGeometryError, scan, layout=largest)
        return replace_info(candidate, orientation="mixed"), None, maps
    if not known:
        if _one_per_slice(echoes):
            scan.skipped["images without EchoTime"] = scan.skipped.get(
                "images without EchoTime", 0
            ) + len(echoes)
            scan.notes.append(f"{label}: one image per slice and no EchoTime; skipped")
            return None, None, maps
        problem = (
            "no EchoTime (0018,0081) or Effective Echo Time (0018,9082) in any image, so the "
            "echoes cannot be told apart"
        )
        return _failed(echoes, notes, problem, DicomEchoTimeError, scan), None, maps

    grid = _layout(echoes, use_echo_time=True, root=scan.root)
    candidate = _candidate(grid, notes, kind="multi-echo", scan=scan)
    return candidate, grid, maps


def _missing_geometry(f: Frame) -> str:
    missing = []
    if f.orientation is None:
        missing.append("ImageOrientationPatient (0020,0037) (or it is not two unit vectors)")
    if f.position is None:
        missing.append("ImagePositionPatient (0020,0032)")
    if f.pixel_spacing is None:
        missing.append("PixelSpacing (0028,0030) (or it is not positive)")
    return " and ".join(missing)


def _one_per_slice(frames: list[Frame]) -> bool:
    normal = slice_normal(np.array(frames[0].orientation))
    s = np.array([np.dot(f.position, normal) for f in frames])  # type: ignore[arg-type]
    return len(cluster(s, SLICE_TOLERANCE_MM)[0]) == len(frames)


def _same_geometry(a: Frame, b: Frame) -> bool:
    if (a.frame_of_reference_uid, a.rows, a.columns) != (
        b.frame_of_reference_uid,
        b.rows,
        b.columns,
    ):
        return False
    iop_a, iop_b = np.array(a.orientation), np.array(b.orientation)
    if np.max(np.abs(iop_a - iop_b)) > ORIENTATION_TOLERANCE:
        return False
    return bool(
        np.max(np.abs(np.subtract(a.pixel_spacing, b.pixel_spacing))) <= SPACING_TOLERANCE_MM
    )


def _geometry_groups(frames: list[Frame]) -> list[list[Frame]]:
    groups: list[list[Frame]] = []
    for f in frames:
        for g in groups:
            if _same_geometry(g[0], f):
                g.append(f)
                break
        else:
            groups.append([f])
    return groups


def _group_text(frames: list[Frame]) -> str:
    f = frames[0]
    name = _orientation_of(np.array(f.orientation))
    return f"{len(frames)} images {name} {f.columns}x{f.rows}"


def _orientation_of(iop: np.ndarray) -> str:
    affine = np.eye(4)
    affine[:3, 0], affine[:3, 1] = iop[:3], iop[3:]
    affine[:3, 2] = slice_normal(iop)
    return orientation_name(affine)


# ---- the slice x echo grid -----------------------------------------------------------------


def _layout(frames: list[Frame], *, use_echo_time: bool, root: Path) -> _Grid:
    """Sort one geometry group into slices (by position along the normal) and echoes (by TE)."""
    out = _Grid(frames)
    iop = np.array(frames[0].orientation)
    normal = slice_normal(iop)
    positions = np.array([f.position for f in frames], dtype=float)
    s = positions @ normal
    s_centres, k_of = cluster(s, SLICE_TOLERANCE_MM)
    if use_echo_time:
        te_centres, e_of = cluster(np.array([f.echo_time_ms for f in frames]), ECHO_TOLERANCE_MS)
    else:
        te_centres, e_of = np.empty(0), np.zeros(len(frames), dtype=int)
    n_k, n_e = len(s_centres), max(len(te_centres), 1)
    cells: list[list[list[Frame]]] = [[[] for _ in range(n_e)] for _ in range(n_k)]
    for f, k, e in zip(frames, k_of, e_of, strict=True):
        cells[k][e].append(f)
    out.echo_times_ms = te_centres
    out.slice_positions_mm = s_centres
    duplicated = [(k, e) for k in range(n_k) for e in range(n_e) if len(cells[k][e]) > 1]
    missing = [(k, e) for k in range(n_k) for e in range(n_e) if not cells[k][e]]
    if duplicated:
        out.problem, out.error = _duplicate_problem(
            cells, duplicated, missing, s_centres, te_centres, use_echo_time, root
        )
        return out
    if missing:
        out.problem = _missing_problem(missing, n_k, n_e, s_centres, te_centres, use_echo_time)
        return out
    grid = np.empty((n_k, n_e), dtype=object)
    for k in range(n_k):
        for e in range(n_e):
            grid[k, e] = cells[k][e][0]
    slice_positions = np.array([grid[k, 0].position for k in range(n_k)], dtype=float)
    for k in range(n_k):
        spread = np.array([grid[k, e].position for e in range(n_e)]) - slice_positions[k]
        if np.max(np.linalg.norm(spread, axis=1)) > IN_PLANE_TOLERANCE_MM:
            out.problem = (
                f"the images of slice {k + 1} (position {s_centres[k]:.2f} mm) do not share one "
                "ImagePositionPatient"
            )
            out.error = DicomGeometryError
            return out
    uneven = uniform_spacing_problem(slice_positions, s_centres)
    if uneven:
        out.problem, out.error = uneven, DicomGeometryError
        return out
    spacing = frames[0].pixel_spacing
    thickness = frames[0].slice_thickness_mm or 1.0
    out.grid = grid
    out.positions_lps = slice_positions
    out.affine = stack_affine(iop, spacing, slice_positions, thickness)  # type: ignore[arg-type]
    return out


def _duplicate_problem(
    cells: list[list[list[Frame]]],
    duplicated: list[tuple[int, int]],
    missing: list[tuple[int, int]],
    s: np.ndarray,
    te: np.ndarray,
    use_echo_time: bool,
    root: Path,
) -> tuple[str, type[InputError]]:
    k, e = duplicated[0]
    fs = cells[k][e]
    files = ", ".join(f.label(root) for f in fs[:3])
    where = f"slice {k + 1} of {len(s)} (position {s[k]:.2f} mm)"
    offsets = np.array([f.position for f in fs]) - np.array(fs[0].position)
    if np.max(np.linalg.norm(offsets, axis=1)) > IN_PLANE_TOLERANCE_MM:
        return (
            f"two stacks with the same orientation but different in-plane positions: {where} "
            f"has images at different ImagePositionPatient ({files})",
            DicomGeometryError,
        )
    if not use_echo_time:
        return (
            f"{where} has {len(fs)} images ({files}): several maps of one slice",
            DicomSeriesError,
        )
    numbers = sorted({f.echo_number for f in fs if f.echo_number is not None})
    counts = {len(cells[k2][e2]) for k2, e2 in duplicated}
    text = (
        f"duplicate echo times: {where} has {len(fs)} images with EchoTime {te[e]:.4g} ms"
        + (f" (EchoNumbers {', '.join(map(str, numbers))})" if len(numbers) > 1 else "")
        + f": {files}"
    )
    if len(duplicated) > 1 or missing:
        text += f"; {len(duplicated)} slice/echo places have more than one image"
        text += f" and {len(missing)} have none" if missing else ""
    if len(numbers) <= 1 and len(te) == 1 and len(duplicated) == len(s) and len(counts) == 1:
        text += (
            f". Every slice has {len(fs)} images with the same EchoTime and EchoNumbers "
            f"{numbers[0] if numbers else '(none)'}, as GE research multi-echo exports write "
            "them, so the echoes cannot be told apart; re-export with per-echo EchoTime"
        )
    elif len(numbers) <= 1:
        text += " (the same echo repeated, or two acquisitions stored in one series)"
    return text, DicomEchoTimeError


def _missing_problem(
    missing: list[tuple[int, int]],
    n_k: int,
    n_e: int,
    s: np.ndarray,
    te: np.ndarray,
    use_echo_time: bool,
) -> str:
    listed = []
    for k, e in missing[:_MAX_LISTED]:
        where = f"slice {k + 1}/{n_k} (position {s[k]:.2f} mm)"
        if use_echo_time:
            where += f" echo {e + 1}/{n_e} (TE {te[e]:.4g} ms)"
        listed.append(where)
    more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
    if use_echo_time:
        return (
            f"incomplete slice x echo grid: {n_k} slices x {n_e} echoes need {n_k * n_e} images, "
            f"{n_k * n_e - len(missing)} found; missing: {'; '.join(listed)}{more}"
        )
    return f"missing map slices: {'; '.join(listed)}{more}"


# ---- candidates ----------------------------------------------------------------------------


def _candidate(grid: _Grid, notes: list[str], *, kind: str, scan: DicomScan) -> Candidate:
    frames = grid.frames
    first = frames[0]
    if grid.affine is not None:
        voxel = tuple(float(v) for v in np.linalg.norm(grid.affine[:3, :3], axis=0))
        orientation = orientation_name(grid.affine)
    else:
        spacing = first.pixel_spacing or (0.0, 0.0)
        gaps = np.diff(grid.slice_positions_mm)
        step = float(np.median(gaps)) if gaps.size else (first.slice_thickness_mm or 0.0)
        voxel = (float(spacing[1]), float(spacing[0]), step)
        orientation = (
            _orientation_of(np.array(first.orientation)) if first.orientation else "unknown"
        )
    te = tuple(float(t) for t in grid.echo_times_ms) if kind == "multi-echo" else ()
    info = SeriesInfo(
        number=first.series_number,
        uid=first.series_uid,
        description=first.description,
        kind=kind,
        vendor=vendor_name(first.manufacturer) if first.manufacturer else "",
        n_echoes=len(te),
        echo_times_ms=te,
        matrix=(first.columns, first.rows),
        n_slices=len(grid.slice_positions_mm),
        voxel_size_mm=voxel,  # type: ignore[arg-type]
        orientation=orientation,
        n_files=len({f.path for f in frames}),
        paths=tuple(sorted({f.path for f in frames})),
        notes=tuple(notes),
        problem=grid.problem,
        study_uid=first.study_uid,
        part_uids=(first.series_uid,),
        map_type=first.map_type if kind == "map" else None,
        acquisition_time=_series_time(frames),
    )
    return Candidate(
        info=info,
        frames=frames,
        error=grid.error,
        grid=grid.grid,
        echo_times_ms=grid.echo_times_ms,
        affine=grid.affine,
        positions_lps=grid.positions_lps,
        slice_positions_mm=grid.slice_positions_mm,
    )


def _failed(
    frames: list[Frame],
    notes: list[str],
    problem: str,
    error: type[InputError],
    scan: DicomScan,
    layout: list[Frame] | None = None,
) -> Candidate:
    """A candidate that cannot be loaded, described as well as its images allow."""
    usable = layout or [f for f in frames if not _missing_geometry(f)]
    te = sorted({round(f.echo_time_ms, 3) for f in frames if f.echo_time_ms is not None})
    grid = _Grid(frames, echo_times_ms=np.array(te))
    if usable:
        normal = slice_normal(np.array(usable[0].orientation))
        s = np.array([np.dot(f.position, normal) for f in usable])  # type: ignore[arg-type]
        grid.slice_positions_mm = cluster(s, SLICE_TOLERANCE_MM)[0]
    grid.problem, grid.error = problem, error
    candidate = _candidate(grid, notes, kind="multi-echo", scan=scan)
    if not usable:
        candidate = replace_info(candidate, orientation="unknown")
    return candidate


def replace_info(candidate: Candidate, **changes: Any) -> Candidate:
    candidate.info = replace(candidate.info, **changes)
    return candidate


def _map_candidate(
    frames: list[Frame], map_type: str, notes: list[str], scan: DicomScan
) -> Candidate:
    lacking = [f for f in frames if _missing_geometry(f)]
    if lacking:
        grid = _Grid(frames, problem=f"missing geometry tags: {lacking[0].label(scan.root)} lacks "
                     f"{_missing_geometry(lacking[0])}", error=DicomGeometryError)  # fmt: skip
        candidate = _candidate(grid, notes, kind="map", scan=scan)
        return replace_info(candidate, orientation="unknown")
    groups = _geometry_groups(frames)
    if len(groups) > 1:
        grid = _Grid(frames, problem="mixed orientations or geometries: " + "; ".join(
            _group_text(g) for g in groups), error=DicomGeometryError)  # fmt: skip
        return replace_info(_candidate(grid, notes, kind="map", scan=scan), orientation="mixed")
    grid = _layout(frames, use_echo_time=False, root=scan.root)
    return _candidate(grid, [*notes, f"scanner-computed map ({map_type})"], kind="map", scan=scan)


# ---- merging echoes split over series ------------------------------------------------------


def _merge_key(candidate: Candidate, grid: _Grid) -> tuple[Any, ...]:
    f = grid.frames[0]
    return (
        f.study_uid,
        f.frame_of_reference_uid,
        f.rows,
        f.columns,
        tuple(np.round(f.orientation, 3)),  # type: ignore[arg-type]
        tuple(np.round(f.pixel_spacing, 3)),  # type: ignore[arg-type]
        tuple(np.round(grid.slice_positions_mm, 1)),
        f.protocol,
    )


def _merge_groups(pool: list[tuple[Candidate, _Grid]]) -> list[list[tuple[Candidate, _Grid]]]:
    groups: dict[tuple[Any, ...], list[tuple[Candidate, _Grid]]] = {}
    for candidate, grid in pool:
        groups.setdefault(_merge_key(candidate, grid), []).append((candidate, grid))
    return [g for g in groups.values() if len(g) > 1]


def _merge(parts: list[tuple[Candidate, _Grid]], scan: DicomScan) -> Candidate | None:
    all_te = np.concatenate([g.echo_times_ms for _, g in parts])
    if len(cluster(all_te, ECHO_TOLERANCE_MS)[0]) != all_te.size:
        return None  # overlapping echo times: repeats, not parts of one acquisition
    times = [t for t in (_acquisition_seconds(g.frames) for _, g in parts) if t is not None]
    if times and max(times) - min(times) > MERGE_WINDOW_S:
        return None
    parts = sorted(parts, key=lambda p: float(p[1].echo_times_ms[0]))
    frames = [f for _, g in parts for f in g.frames]
    grid = _layout(frames, use_echo_time=True, root=scan.root)
    if grid.problem is not None:
        return None
    numbers = tuple(c.info.number for c, _ in parts if c.info.number is not None)
    described = ", ".join(
        f"{c.info.number} ({_te_range(g.echo_times_ms)})" for c, g in parts
    )  # fmt: skip
    note = f"echoes merged from series {described}: one acquisition split over several series"
    notes = [note] + [n for c, _ in parts for n in c.info.notes]
    candidate = _candidate(grid, notes, kind="multi-echo", scan=scan)
    descriptions = list(dict.fromkeys(c.info.description for c, _ in parts))
    candidate.info = replace(
        candidate.info,
        number=parts[0][0].info.number,
        uid=parts[0][0].info.uid,
        description=" + ".join(descriptions),
        merged_from=tuple(sorted(numbers, key=numbers.index)),
        part_uids=tuple(c.info.uid for c, _ in parts),
    )
    logger.warning("%s: %s", scan.root, note)
    return candidate


def _te_range(te: np.ndarray) -> str:
    if te.size == 1:
        return f"TE {te[0]:.4g} ms"
    return f"TE {te[0]:.4g}-{te[-1]:.4g} ms"


def _acquisition_seconds(frames: list[Frame]) -> float | None:
    values = []
    for f in frames:
        t = _parse_time(f.acquisition_time)
        if t is None:
            continue
        day = _parse_date(f.acquisition_date)
        values.append(t + (day.toordinal() * 86400.0 if day else 0.0))
    return min(values) if values else None


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    digits = text.replace(".", "").replace("-", "")[:8]
    try:
        day = datetime.strptime(digits, "%Y%m%d")
    except ValueError:
        return None
    return day if 1900 <= day.year <= 2200 else None


def _parse_time(text: str | None) -> float | None:
    """Seconds since midnight of a DICOM TM (``HHMMSS.ffffff``, ``HH:MM:SS`` or shorter)."""
    if not text:
        return None
    text = text.split("&")[0].split("+")[0].split("-")[0].replace(":", "").strip()
    main, _, frac = text.partition(".")
    if not main.isdigit() or len(main) not in (2, 4, 6):
        return None
    hours = int(main[:2])
    minutes = int(main[2:4]) if len(main) >= 4 else 0
    seconds = int(main[4:6]) if len(main) >= 6 else 0
    if hours > 23 or minutes > 59 or seconds > 60:
        return None
    fraction = float(f"0.{frac}") if frac.isdigit() else 0.0
    return hours * 3600 + minutes * 60 + seconds + fraction


def _series_time(frames: list[Frame]) -> str | None:
    """Time of day of the first image; None for the 00:00:00 of anonymised data (no real date)."""
    time = _first_time(frames)
    dated = any(_parse_date(f.acquisition_date) for f in frames[:1])
    return None if time == "00:00:00" and not dated else time


def _first_time(frames: list[Frame]) -> str | None:
    seconds = [t for t in (_parse_time(f.acquisition_time) for f in frames) if t is not None]
    if not seconds:
        return None
    t = int(min(seconds))
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


# ---- choosing ------------------------------------------------------------------------------


def _match(pool: list[Candidate], series: int | str | SeriesInfo) -> list[Candidate]:
    if isinstance(series, SeriesInfo):
        return [
            c
            for c in pool
            if c.info.uid == series.uid
            and c.info.kind == series.kind
            and c.info.map_type == series.map_type
        ]
    if isinstance(series, (int, np.integer)) and not isinstance(series, bool):
        return [c for c in pool if int(series) in (c.info.number, *c.info.merged_from)]
    text = str(series).strip()
    if text.isdigit():
        return [c for c in pool if int(text) in (c.info.number, *c.info.merged_from)]
    by_uid = [c for c in pool if text in c.info.part_uids or text == c.info.uid]
    if by_uid:
        return by_uid
    low = text.lower()
    exact = [c for c in pool if c.info.description.lower() == low]
    if exact:
        return exact
    return [c for c in pool if low and low in c.info.description.lower()]


def _choice_text(series: int | str | SeriesInfo) -> str:
    if isinstance(series, SeriesInfo):
        return series.label
    return repr(series)


def _listing(candidates: list[Candidate]) -> str:
    return "\n".join(f"  - {c.info.summary()}  [uid {c.info.uid}]" for c in candidates)


def _nothing_found(scan: DicomScan, kind: str) -> str:
    text = f"no {kind} series found"
    singles = [_single_text(c) for c in scan.singles]
    if singles:
        text += "; " + "; ".join(singles)
    return text + _others_suffix(scan, kind)


def _others_suffix(scan: DicomScan, kind: str) -> str:
    others = [c for c in scan.candidates if c.info.kind != kind]
    text = "\nfound only:\n" + _listing(others) if others else ""
    return text + _skipped_suffix(scan)


def _singles_suffix(scan: DicomScan) -> str:
    return "".join(f"\n  - {_single_text(c)}" for c in scan.singles)


def _single_text(candidate: Candidate) -> str:
    te = candidate.info.echo_times_ms
    return (
        f"{candidate.info.label} has a single echo (TE {te[0]:.4g} ms); a T2 fit needs at least "
        "2 echoes"
    )


def _skipped_suffix(scan: DicomScan) -> str:
    return f"\n  (skipped: {scan.skipped_text()})" if scan.skipped else ""


def _label(f: Frame) -> str:
    number = "?" if f.series_number is None else str(f.series_number)
    description = repr(f.description) if f.description else "(no description)"
    return f"series {number} {description}"


def _more(n: int) -> str:
    return f" (and {n - 1} more image{'s' if n > 2 else ''})" if n > 1 else ""


def _sort_key(c: Candidate) -> tuple[Any, ...]:
    number = c.info.number if c.info.number is not None else 1 << 30
    return (number, c.info.kind != "multi-echo", c.info.description, c.info.study_uid)
