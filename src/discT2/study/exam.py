"""One exam of a study run: load, fit, place the ROIs, measure; write ``DIR/<subject>/<visit>/``.

Files of an exam folder::

    t2.nii.gz s0.nii.gz t2_sd.nii.gz r2.nii.gz rmse.nii.gz flags.nii.gz [b1.nii.gz] fit.json
    rois.nii.gz rois.json discs.json      the ROIs and the disc geometry they were placed from
    registration.npz                      baselines: the image follow-ups are registered to, so
                                          that they need not read the baseline's DICOM again
    measurements.csv                      one row per disc x ROI (documented columns, then QA)
    exam.log                              what happened, as logged
    exam.json                             status, digest, timings, options, series metadata
                                          (no patient fields), how the ROIs were made, review
                                          flags, and the SHA-256 of every output; written last

An exam is **reused** by a later run when its ``exam.json`` says ``ok`` (or ``partial``), its
digest equals the digest of the current inputs and options, and every output it lists still has
the recorded content. The digest covers the software version, the options
(:class:`~discT2.study.options.RunOptions`), the manifest row, the content of every input file,
the discs file, and for a propagated follow-up the digest of its baseline. Recomputing starts by
deleting ``exam.json``, and every file is written under a temporary name and renamed, so an
interrupted exam is never mistaken for a finished one.

Failures never escape :func:`run_exam`: the stage (``load``, ``fit``, ``rois``, ``measure``) and
a one-line reason end up in ``exam.json`` and, through the runner, in ``errors.csv``. Outputs of
the stages that finished are kept.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from discT2._version import __version__
from discT2.errors import DiscT2Error
from discT2.fit import fit_t2
from discT2.io import load_series
from discT2.maps import MAP_FILES
from discT2.measure import measure
from discT2.roi import DiscROIs, detect_discs, place_rois, propagate, save_discs
from discT2.roi.register import RegistrationImage
from discT2.series import META_KEYS, MultiEchoSeries
from discT2.study._files import (
    file_sha256,
    input_fingerprint,
    remove_temporaries,
    write_json,
    write_text,
)
from discT2.study._logs import capture_exam_log
from discT2.study._tables import write_measurements
from discT2.study.manifest import ExamSpec
from discT2.study.options import RunOptions

__all__ = ["EXAM_FILES", "STAGES", "ExamResult", "ExamTask", "run_exam"]

logger = logging.getLogger(__name__)

#: The stages of an exam, in order (the ``stage`` column of ``errors.csv``).
STAGES: tuple[str, ...] = ("load", "fit", "rois", "measure")

EXAM_JSON = "exam.json"
EXAM_LOG = "exam.log"
MEASUREMENTS_CSV = "measurements.csv"
REGISTRATION_NPZ = "registration.npz"
#: Every file the runner writes into an exam folder (removed before an exam is recomputed).
EXAM_FILES: tuple[str, ...] = (
    EXAM_JSON,
    *MAP_FILES.values(),
    "fit.json",
    "rois.nii.gz",
    "rois.json",
    "discs.json",
    REGISTRATION_NPZ,
    MEASUREMENTS_CSV,
    EXAM_LOG,
)

# Series metadata kept in exam.json and fit.json: the loader's keys (none identifies a patient)
# except the acquisition date; the time of day stays for the protocol-drift check.
_SAFE_META = tuple(k for k in META_KEYS if k != "acquisition_date")


@dataclass(frozen=True)
class ExamTask:
    """Everything one exam needs; picklable, so it can run in a worker process.

    Attributes
    ----------
    spec : ExamSpec
        The manifest row.
    folder : Path
        Output folder ``DIR/<subject>/<visit>``.
    options : RunOptions
        What to compute with.
    plan : {'discs', 'propagate', 'auto'}
        Where the ROIs come from: the manifest's discs file, the baseline's ROIs, or automatic
        detection.
    baseline : ExamSpec, optional
        The subject's baseline (``plan='propagate'``).
    baseline_folder : Path, optional
        The baseline's output folder (its ``rois.json``).
    baseline_digest : str, optional
        The baseline's digest (part of this exam's digest).
    fallback : str
        Why a follow-up uses automatic detection instead of propagation ('' otherwise).
    force : bool
        Recompute even when the outputs are current.
    fit_workers : int, optional
        Threads of the fit (1 inside a worker process of a parallel run; None = all cores).
    log_level : int
        Level of ``exam.log``.
    """

    spec: ExamSpec
    folder: Path
    options: RunOptions
    plan: str
    baseline: ExamSpec | None = None
    baseline_folder: Path | None = None
    baseline_digest: str | None = None
    fallback: str = ""
    force: bool = False
    fit_workers: int | None = None
    log_level: int = logging.INFO


@dataclass
class ExamResult:
    """What became of one exam (also what the runner's progress callback receives).

    Attributes
    ----------
    subject, visit : str
    months : float
    status : {'ok', 'partial', 'failed'}
        ``partial``: measured, but an index or control disc could not be placed or measured.
    stage : str
        Stage that failed (``load``, ``fit``, ``rois``, ``measure``), '' when ok.
    error : str
        One-line reason ('' when ok).
    skipped : bool
        The outputs of an earlier run were current and reused.
    digest : str or None
        Digest of inputs and options (None when the inputs could not be read).
    seconds : float
        Wall time of this exam in this run.
    folder : Path
        The exam's output folder.
    rois : str
        How the ROIs were made: ``discs``, ``propagated``, ``auto`` ('' when not made).
    review : list of str
        What a reader should check (automatic or propagated discs, QA flags).
    timings : dict
        Seconds per stage in this run (empty when reused).
    """

    subject: str
    visit: str
    months: float
    status: str
    stage: str = ""
    error: str = ""
    skipped: bool = False
    digest: str | None = None
    seconds: float = 0.0
    folder: Path = field(default_factory=Path)
    rois: str = ""
    review: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.subject, self.visit)

    @property
    def label(self) -> str:
        return f"{self.subject}/{self.visit}"

    @property
    def measured(self) -> bool:
        """True when the exam has a measurements table (``ok`` or ``partial``)."""
        return self.status in ("ok", "partial")


class _StageError(Exception):
    """A stage failed; carries the stage name and the one-line reason."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DiscT2Error):
        return _one_line(str(exc))
    return _one_line(f"{type(exc).__name__}: {exc}")


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _software() -> dict[str, str]:
    import numba
    import scipy
    import SimpleITK

    return {
        "discT2": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "SimpleITK": SimpleITK.Version_VersionString(),
    }


# -- digest -----------------------------------------------------------------------------------


def _digest_document(task: ExamTask) -> dict[str, Any]:
    spec = task.spec
    rois: dict[str, Any] = {"plan": task.plan}
    if task.plan == "discs" and spec.discs is not None:
        rois["discs"] = (
            input_fingerprint(spec.discs) if spec.discs.exists() else {"missing": spec.discs_text}
        )
    if task.plan == "propagate":
        rois["baseline"] = {"visit": task.baseline.visit if task.baseline else "",
                            "digest": task.baseline_digest}  # fmt: skip
    if task.fallback:
        rois["fallback"] = task.fallback
    return {
        "discT2": __version__,
        "options": task.options.to_json(),
        "exam": {
            "subject": spec.subject,
            "visit": spec.visit,
            "months": spec.months,
            "index_disc": spec.index_disc,
            "control_discs": list(spec.control_discs),
            "series": spec.series,
        },
        "dicom": input_fingerprint(spec.dicom),
        "rois": rois,
    }


def _digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _reusable(folder: Path, digest: str) -> dict[str, Any] | None:
    """The earlier ``exam.json`` when that exam is finished, current and intact; else None."""
    path = folder / EXAM_JSON
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or doc.get("status") not in ("ok", "partial"):
        return None
    if doc.get("digest") != digest or not isinstance(doc.get("outputs"), dict):
        return None
    if MEASUREMENTS_CSV not in doc["outputs"]:
        return None
    for name, sha in doc["outputs"].items():
        p = folder / name
        try:
            if not p.is_file() or file_sha256(p) != sha:
                return None
        except OSError:
            return None
    return doc


# -- the exam ---------------------------------------------------------------------------------


def run_exam(task: ExamTask) -> ExamResult:
    """Process one exam (or reuse its current outputs); never raises for a bad exam.

    Parameters
    ----------
    task : ExamTask

    Returns
    -------
    ExamResult
        Status, failed stage and reason, timings. An error outside the four stages (a full
        disk while writing ``exam.json``, say) gives stage ``run``. ``KeyboardInterrupt`` is not
        caught: an interrupted exam leaves no ``exam.json`` and is recomputed by the next run.
    """
    t_start = time.perf_counter()
    try:
        return _run_exam(task)
    except Exception as exc:
        logger.error(
            "%s: unexpected error:\n%s",
            task.spec.label,
            "".join(traceback.format_exception(exc)),
        )
        return ExamResult(
            subject=task.spec.subject,
            visit=task.spec.visit,
            months=task.spec.months,
            status="failed",
            stage="run",
            error=_reason(exc),
            seconds=time.perf_counter() - t_start,
            folder=task.folder,
        )


def _run_exam(task: ExamTask) -> ExamResult:
    spec = task.spec
    folder = task.folder
    t_start = time.perf_counter()
    started = _now()
    folder.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    state: dict[str, Any] = {"outputs": {}, "rois": {}, "review": [], "series": {}}
    status, stage, error = "ok", "", ""
    with capture_exam_log(task.log_level) as log:
        logger.info("exam %s (manifest line %d), discT2 %s", spec.label, spec.line, __version__)
        try:
            digest_doc = _digest_document(task)
            digest = _digest(digest_doc)
        except (DiscT2Error, OSError) as exc:
            # The input cannot be read (a folder missing or unmounted): leave the folder as it
            # is, so that the outputs of an earlier run are still there when the input returns.
            logger.error("%s: cannot read the input: %s", spec.label, exc)
            return ExamResult(
                subject=spec.subject,
                visit=spec.visit,
                months=spec.months,
                status="failed",
                stage="load",
                error=_reason(exc),
                seconds=time.perf_counter() - t_start,
                folder=folder,
            )
        if not task.force:
            previous = _reusable(folder, digest)
            if previous is not None:
                return ExamResult(
                    subject=spec.subject,
                    visit=spec.visit,
                    months=spec.months,
                    status=previous["status"],
                    stage=previous.get("stage", ""),
                    error=previous.get("error", ""),
                    skipped=True,
                    digest=digest,
                    seconds=time.perf_counter() - t_start,
                    folder=folder,
                    rois=previous.get("rois", {}).get("source", ""),
                    review=list(previous.get("review", [])),
                )
        # Recompute: the marker goes first, so a crash from here on leaves no finished exam.
        remove_temporaries(folder, EXAM_FILES)
        try:
            status, stage, error = _process(task, state, timings)
        except _StageError as exc:
            status, stage, error = "failed", exc.stage, exc.reason
        if status != "ok":
            logger.error("%s: %s at stage %s: %s", spec.label, status, stage, error)
        else:
            logger.info("%s: done", spec.label)
        timings["total"] = round(time.perf_counter() - t_start, 3)
        warnings_seen = list(log.warnings)
    # The log, then exam.json last (written only now that everything else is on disk).
    write_text(folder / EXAM_LOG, log.text)
    doc = {
        "status": status,
        "stage": stage,
        "error": error,
        "subject": spec.subject,
        "visit": spec.visit,
        "months": spec.months,
        "digest": digest,
        "manifest": {
            "line": spec.line,
            "dicom": spec.dicom_text or str(spec.dicom),
            "discs": spec.discs_text,
            "series": spec.series,
            "index_disc": spec.index_disc,
            "control_discs": list(spec.control_discs),
        },
        "inputs": {k: digest_doc[k] for k in ("dicom", "rois") if k in digest_doc},
        "options": task.options.to_json(),
        "software": _software(),
        "started": started,
        "finished": _now(),
        "timings_s": timings,
        "series": state["series"],
        "exam_row": state.get("exam_row"),
        "rois": state["rois"],
        "review": state["review"],
        "warnings": warnings_seen,
        "outputs": state["outputs"],
    }
    write_json(folder / EXAM_JSON, doc)
    return ExamResult(
        subject=spec.subject,
        visit=spec.visit,
        months=spec.months,
        status=status,
        stage=stage,
        error=error,
        skipped=False,
        digest=digest,
        seconds=time.perf_counter() - t_start,
        folder=folder,
        rois=state["rois"].get("source", ""),
        review=list(state["review"]),
        timings=dict(timings),
    )


def _stage(name: str, timings: dict[str, float]):
    """Context manager: time a stage and turn its exceptions into a :class:`_StageError`."""

    class _Stage:
        def __enter__(self) -> None:
            self.t0 = time.perf_counter()
            logger.info("stage %s", name)

        def __exit__(self, kind, exc, tb) -> bool:
            timings[name] = round(time.perf_counter() - self.t0, 3)
            if exc is None or not isinstance(exc, Exception) or isinstance(exc, _StageError):
                return False
            if not isinstance(exc, DiscT2Error):
                logger.error("unexpected error:\n%s", "".join(traceback.format_exception(exc)))
            raise _StageError(name, _reason(exc)) from exc

    return _Stage()


def _record(state: dict[str, Any], folder: Path, paths: Any) -> None:
    for path in map(Path, paths):
        state["outputs"][path.name] = file_sha256(path)


def _process(
    task: ExamTask, state: dict[str, Any], timings: dict[str, float]
) -> tuple[str, str, str]:
    spec, folder, options = task.spec, task.folder, task.options

    with _stage("load", timings):
        series = load_series(spec.dicom, series=spec.series)
        _clean_meta(series, spec)
        state["series"] = _series_record(series)
        state["exam_row"] = _exam_row(series, spec, options.method)
        logger.info("loaded %r", series)

    with _stage("fit", timings):
        t2map = fit_t2(
            series, options.method, mask=options.mask, workers=task.fit_workers, **options.fit
        )
        saved = t2map.save(folder)
        _record(state, folder, saved.values())
        counts = t2map.provenance.get("flag_counts", {})
        logger.info(
            "fitted %d voxels with %s in %.2f s (%d failed)",
            t2map.provenance.get("n_fitted", 0),
            options.method,
            t2map.provenance.get("elapsed_s", float("nan")),
            counts.get("FAILED", 0),
        )

    with _stage("rois", timings):
        rois = _place(task, series, state)
        written = rois.save(folder)
        _record(state, folder, written.values())
        _record(state, folder, [save_discs(rois.discs, folder / "discs.json")])
        if spec.is_baseline:
            _record(state, folder, [RegistrationImage.of(series).save(folder / REGISTRATION_NPZ)])
        state["rois"]["discs"] = [_disc_record(d, spec) for d in rois.discs]
        state["rois"]["failed"] = list(rois.failed)
        state["review"] = _review(rois, state["rois"])

    with _stage("measure", timings):
        table = measure(t2map, rois, **options.measure)
        table.insert(0, "subject", spec.subject)
        table.insert(1, "visit", spec.visit)
        table.insert(2, "months", spec.months)
        table.insert(4, "role", [spec.role(lv) for lv in table["level"]])
        path = write_measurements(table, folder / MEASUREMENTS_CSV)
        _record(state, folder, [path])

    problems = _required_discs(spec, rois, table, state["rois"])
    if problems:
        stage = "rois" if any(p[0] == "rois" for p in problems) else "measure"
        return "partial", stage, "; ".join(p[1] for p in problems)
    return "ok", "", ""


def _clean_meta(series: MultiEchoSeries, spec: ExamSpec) -> None:
    """Keep only non-identifying metadata, and the manifest's path as the source."""
    for key in list(series.meta):
        if key not in _SAFE_META:
            del series.meta[key]
    series.meta["source"] = spec.dicom_text or str(spec.dicom)


def _series_record(series: MultiEchoSeries) -> dict[str, Any]:
    record = {k: series.meta[k] for k in _SAFE_META if k in series.meta}
    record.update(
        shape=list(series.shape),
        voxel_size_mm=[round(float(v), 4) for v in series.voxel_size_mm],
        echo_times_ms=[float(t) for t in series.echo_times_ms],
        orientation=series.orientation,
    )
    return record


def _exam_row(series: MultiEchoSeries, spec: ExamSpec, method: str) -> dict[str, Any]:
    """The exam's row of ``exams.csv`` (the protocol-drift table)."""
    meta = series.meta
    return {
        "subject": spec.subject,
        "visit": spec.visit,
        "months": spec.months,
        "vendor": meta.get("vendor", ""),
        "field_strength_t": meta.get("field_strength_t"),
        "echo_times_ms": ";".join(f"{t:g}" for t in series.echo_times_ms),
        "repetition_time_ms": meta.get("repetition_time_ms"),
        "slice_thickness_mm": meta.get("slice_thickness_mm"),
        "method": method,
        "acquisition_time": meta.get("acquisition_time", ""),
    }


def _place(task: ExamTask, series: MultiEchoSeries, state: dict[str, Any]) -> DiscROIs:
    """The exam's ROIs from its discs file, the baseline's ROIs, or automatic detection."""
    options = task.options
    record = state["rois"]
    if task.plan == "discs":
        record.update(source="discs", discs_file=task.spec.discs_text)
        logger.info("ROIs from the discs file %s", task.spec.discs_text)
        return place_rois(series, task.spec.discs, on_error="flag", **options.rois)
    if task.plan == "propagate":
        base = task.baseline
        try:
            base_image = _baseline_image(task)
            base_rois = DiscROIs.load(task.baseline_folder)
            rois = propagate(
                base_image, base_rois, series, place_options=options.rois, **options.propagate
            )
        except DiscT2Error as exc:
            reason = f"propagation from {base.visit} failed ({_reason(exc)})"
            logger.warning("%s; finding the discs automatically instead", reason)
            record["fallback"] = reason
        else:
            record.update(source="propagated", baseline=base.visit)
            record["global_matrix_ras"] = rois.provenance.get("global_matrix_ras")
            logger.info("ROIs propagated from %s", base.visit)
            return rois
    elif task.fallback:
        record["fallback"] = task.fallback
        logger.warning("%s; finding the discs automatically", task.fallback)
    record["source"] = "auto"
    found = detect_discs(series, **options.auto)
    logger.info("found discs %s automatically (flagged for review)", [d.level for d in found])
    return place_rois(series, found, on_error="flag", **options.rois)


def _baseline_image(task: ExamTask) -> RegistrationImage | MultiEchoSeries:
    """The baseline's registration image as its exam saved it, else its series read again.

    The saved image is used only when the baseline's ``exam.json`` has the digest this follow-up
    was scheduled with and lists the file with its present content.
    """
    folder, base = task.baseline_folder, task.baseline
    path = folder / REGISTRATION_NPZ
    record = load_exam_record(folder) or {}
    listed = (record.get("outputs") or {}).get(REGISTRATION_NPZ)
    fresh = record.get("digest") == task.baseline_digest and listed and path.is_file()
    if fresh and file_sha256(path) == listed:
        logger.info("baseline image from %s", path)
        return RegistrationImage.load(path)
    logger.info("baseline image not saved by its exam; reading %s again", base.dicom)
    return load_series(base.dicom, series=base.series)


def _disc_record(disc: Any, spec: ExamSpec) -> dict[str, Any]:
    qa = disc.qa or {}
    rec = {
        "level": disc.level,
        "role": spec.role(disc.level),
        "method": disc.method,
        "slice": disc.slice,
        "flags": list(qa.get("flags", [])),
        "n_voxels": qa.get("n_voxels"),
    }
    if "registration" in qa:
        rec["registration"] = {
            k: v for k, v in qa["registration"].items() if k != "matrix_ras"
        }  # fmt: skip
    return rec


def _review(rois: DiscROIs, record: dict[str, Any]) -> list[str]:
    """One line per thing a reader should check."""
    out = []
    if record.get("fallback"):
        out.append(f"ROIs found automatically: {record['fallback']}")
    for d in rois.discs:
        flags = [f for f in (d.qa or {}).get("flags", []) if f != "review"]
        if d.method in ("auto", "propagated") or flags:
            why = d.method + (f" ({', '.join(flags)})" if flags else "")
            out.append(f"{d.level}: {why}")
    for f in rois.failed:
        out.append(f"{f.get('level', '?')}: not placed ({_one_line(f.get('error', ''))})")
    return out


def _required_discs(
    spec: ExamSpec, rois: DiscROIs, table: Any, record: dict[str, Any]
) -> list[tuple[str, str]]:
    """Index and control discs that were not placed, or have no usable voxel."""
    problems = []
    failed = {f.get("level"): _one_line(f.get("error", "")) for f in rois.failed}
    placed = set(rois.levels)
    source = record.get("source", "")
    for level in (spec.index_disc, *spec.control_discs):
        role = spec.role(level)
        if level not in placed:
            if level in failed:
                why = failed[level]
            elif source == "discs":
                why = f"not in the discs file {spec.discs_text}"
            elif source == "propagated":
                why = "not among the baseline's ROIs"
            else:
                why = "not found by automatic detection"
            problems.append(("rois", f"{role} disc {level} not placed: {why}"))
            continue
        row = table[(table["level"] == level) & (table["roi"] == "disc")]
        if len(row) and int(row["n_voxels"].iloc[0]) == 0:
            problems.append(
                (
                    "measure",
                    f"{role} disc {level} has no usable voxel "
                    f"({int(row['n_excluded'].iloc[0])} excluded: failed fits or implausible T2)",
                )
            )
    return problems


def load_exam_record(folder: Path) -> dict[str, Any] | None:
    """The ``exam.json`` of an exam folder, or None when absent or unreadable."""
    try:
        doc = json.loads((folder / EXAM_JSON).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None
