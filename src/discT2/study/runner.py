"""``run_study``: every exam of a study, in parallel, fault-isolated and resumable; then the tables.

Output folder ``DIR`` (docs/reference/formats.md)::

    DIR/<subject>/<visit>/   each exam (see :mod:`discT2.study.exam`)
    DIR/measurements.csv     every measured exam x disc x ROI (DESIGN columns, then QA columns)
    DIR/changes.csv          % of baseline, change, category, treated vs control
    DIR/exams.csv            exam metadata for the protocol-drift checks
    DIR/errors.csv           subject, visit, stage, error: one row per exam not completed
    DIR/report_BLINDED.html  the blinded report (no allocation anywhere)
    DIR/run.json             provenance: version, options, start and end, counts, every exam

Scheduling: a follow-up whose ROIs are propagated waits for its subject's baseline; everything
else can start at once. With ``workers > 1`` exams run in that many spawned processes, each
with ``cores // workers`` threads for its fit, SimpleITK, numba and BLAS, so the machine is not
oversubscribed; with ``workers=1`` they run in this process and the fit uses every core. With a
Dask ``client`` they run on the cluster's workers (:mod:`discT2.study._engines`).

A follow-up whose baseline could not be processed (no ROIs to propagate) gets automatically
detected ROIs, flagged for review with the reason, so that it is still measured; its changes
need the baseline, so the change table leaves that subject out with a note until the baseline
is fixed, when the next run recomputes the follow-up with propagated ROIs (its digest includes
how its ROIs were made).
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from discT2._outputs import check_output_folder
from discT2._version import __version__
from discT2.errors import InputError, StudyError
from discT2.report import (
    CHANGE_COLUMNS,
    EXAM_COLUMNS,
    MEASUREMENT_COLUMNS,
    change_table,
    protocol_drift,
    write_report,
    write_table,
)
from discT2.report._names import ERROR_COLUMNS, REPORT_BLINDED, REPORT_UNBLINDED
from discT2.study._engines import DaskEngine, PoolEngine, cores, threads_per_worker
from discT2.study._files import write_json
from discT2.study._lock import study_lock
from discT2.study._main_guard import check_main_guard
from discT2.study._tables import (
    ALL_COLUMNS,
    read_exam_measurements,
    sort_measurements,
    write_measurements,
)
from discT2.study.exam import (
    MEASUREMENTS_CSV,
    ExamResult,
    ExamTask,
    _software,
    load_exam_record,
    run_exam,
)
from discT2.study.manifest import ExamSpec, Study, read_study
from discT2.study.options import DEFAULT_METHOD, RunOptions

__all__ = ["RunResult", "run_study"]

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[ExamResult, int, int], object]


@dataclass
class RunResult:
    """What :func:`run_study` did and the study tables it wrote.

    Attributes
    ----------
    out_dir : Path
        The output folder.
    exams : list of ExamResult
        Every exam, in study order (subject, then time).
    measurements, changes, exams_table, errors : DataFrame
        The tables written to ``measurements.csv``, ``changes.csv``, ``exams.csv``,
        ``errors.csv``.
    notes : list of str
        What the change table could not compute (a subject without baseline, a disc missing at
        one visit, ...), also in the report.
    report : Path or None
        ``report_BLINDED.html`` (None when not asked for, or when it could not be made).
    """

    out_dir: Path
    exams: list[ExamResult]
    measurements: pd.DataFrame
    changes: pd.DataFrame
    exams_table: pd.DataFrame
    errors: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    report: Path | None = None
    report_error: str = ""

    def count(self, status: str) -> int:
        """Number of exams with this status.

        Parameters
        ----------
        status : {'ok', 'partial', 'failed'}
            Exam status.

        Returns
        -------
        int
            How many exams of this run have it.
        """
        return sum(1 for e in self.exams if e.status == status)

    @property
    def n_skipped(self) -> int:
        """Exams whose earlier outputs were reused."""
        return sum(1 for e in self.exams if e.skipped)

    @property
    def ok(self) -> bool:
        """True when every exam was completed (and the report, if asked for, was written)."""
        return all(e.status == "ok" for e in self.exams) and not self.report_error

    @property
    def exit_status(self) -> int:
        """0 when everything was completed, 1 when some exams failed (tables of the rest exist)."""
        return 0 if self.ok else 1

    def summary(self) -> str:
        """One line: counts of exams by outcome."""
        parts = [f"{len(self.exams)} exams: {self.count('ok')} ok"]
        if self.count("partial"):
            parts.append(f"{self.count('partial')} partly measured")
        if self.count("failed"):
            parts.append(f"{self.count('failed')} failed")
        if self.n_skipped:
            parts.append(f"{self.n_skipped} reused from an earlier run")
        return ", ".join(parts)


def run_study(
    study: Study | str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    workers: int = 1,
    method: str = DEFAULT_METHOD,
    force: bool = False,
    progress: ProgressCallback | None = None,
    tau_pct: float = 0.0,
    max_time_shift_h: float = 2.0,
    fit_options: Mapping[str, Any] | None = None,
    roi_options: Mapping[str, Any] | None = None,
    options: RunOptions | None = None,
    report: bool = True,
    client: Any = None,
) -> RunResult:
    """Process every exam of a study and write the study tables and the blinded report.

    Parameters
    ----------
    study : Study or path-like
        The study, or its ``study.csv`` (read with :func:`~discT2.study.read_study`).
    out_dir : path-like
        Output folder (created). Must not be the manifest's folder.
    workers : int
        Exams processed at once, each in its own process (default 1: in this process, the fit
        using all cores). Each process gets ``cores // workers`` threads (at least 1) for its
        fit, SimpleITK, numba and BLAS, so that the workers do not oversubscribe the machine.
    method : str
        Fit method (default ``epg``, see :data:`~discT2.study.options.DEFAULT_METHOD`); ignored
        when ``options`` is given.
    force : bool
        Recompute every exam, even those whose outputs are current.
    progress : callable, optional
        ``progress(result, done, total)`` in this process after each exam (reused ones too).
    tau_pct : float
        Category threshold tau of ``changes.csv`` (%, default 0).
    max_time_shift_h : float
        Flag follow-ups acquired more than this many hours from the baseline's time of day.
    fit_options, roi_options : mapping, optional
        Keyword options of :class:`discT2.T2Model` and :func:`discT2.place_rois` (see
        :class:`~discT2.study.options.RunOptions`); ignored when ``options`` is given.
    options : RunOptions, optional
        Every per-exam option at once.
    report : bool
        Write ``report_BLINDED.html`` (with a T2-map figure per disc and visit).
    client : distributed.Client, optional
        Run the exams on this Dask cluster instead of local processes (``workers`` is then
        ignored). Its workers must see the manifest's inputs and ``out_dir`` at the same paths
        and have the same discT2; the outputs are the same as a local run's.

    Returns
    -------
    RunResult
        The exams' outcomes and the tables; ``result.exit_status`` is 0 when every exam was
        completed, else 1.

    Raises
    ------
    StudyError
        An unusable manifest, or ``out_dir`` is the manifest's folder.
    InputError
        Bad options (``workers`` < 1, negative tau, unknown fit option, ...), or ``workers > 1``
        called from a script's top level outside ``if __name__ == "__main__":``.

    Notes
    -----
    Exams are fault-isolated: one that fails is recorded (``errors.csv``, its ``exam.json`` and
    ``exam.log``) and the others go on. A rerun reuses every exam whose outputs are complete and
    were made from the same inputs and options (see :mod:`discT2.study.exam`), so an interrupted
    run loses nothing finished; changing an option recomputes the exams.
    """
    started = _now()
    t0 = time.perf_counter()
    if not isinstance(study, Study):
        study = read_study(study)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InputError(f"workers must be a whole number >= 1; got {workers!r}")
    if not tau_pct >= 0:
        raise InputError(f"tau must be >= 0 %; got {tau_pct}")
    if workers > 1 and client is None:
        check_main_guard(workers)
    if options is None:
        options = RunOptions(method=method, fit=fit_options or {}, rois=roi_options or {})
    out = Path(out_dir)
    if study.folder is not None and out.resolve() == study.folder.resolve():
        raise StudyError(
            f"{out}: the output folder is the manifest's folder; write the results to a folder "
            "of their own (e.g. -o results)"
        )
    check_output_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    with study_lock(out):
        return _run_locked(study, out, options, workers, force, progress, tau_pct,
                           max_time_shift_h, report, started, t0, client)  # fmt: skip


def _run_locked(
    study: Study,
    out: Path,
    options: RunOptions,
    workers: int,
    force: bool,
    progress: ProgressCallback | None,
    tau_pct: float,
    max_time_shift_h: float,
    report: bool,
    started: str,
    t0: float,
    client: Any,
) -> RunResult:
    _warn_changed_options(out, options)
    n_cores = cores()
    if client is None and workers > n_cores:
        logger.warning(
            "%d workers on %d cores: each worker fits with one thread, so more workers than "
            "cores only adds memory; consider --workers %d",
            workers,
            n_cores,
            n_cores,
        )
    deep = logging.getLogger("discT2").getEffectiveLevel() <= logging.DEBUG
    log_level = logging.DEBUG if deep else logging.INFO
    if client is not None:
        # Dask workers start elsewhere: give them paths that do not depend on this process's
        # working directory.
        out = out.resolve()
        engine = f"Dask cluster {getattr(client, 'scheduler_info', dict)().get('address', '')}"
    elif workers == 1:
        engine = "1 worker"
    else:
        engine = f"{workers} workers x {threads_per_worker(workers, n_cores)} thread(s)"
    logger.info(
        "%s: %d subjects, %d exams; fit %s, %s%s",
        study.path or "study",
        len(study.subjects),
        len(study),
        options.method,
        engine.strip(),
        ", recomputing everything" if force else "",
    )

    results = _execute(study, out, options, workers, force, progress, log_level, client)
    exams = [results[e.key] for e in study.ordered()]
    result = _assemble(study, out, exams, tau_pct, max_time_shift_h, report)
    _write_run_json(out, study, result, options, workers, force, tau_pct, max_time_shift_h,
                    started, time.perf_counter() - t0, engine.strip())  # fmt: skip
    logger.info("%s", result.summary())
    review = [e for e in exams if e.review and e.measured]
    if review:
        logger.info(
            "%d exam(s) have ROIs to review (propagated, automatic or flagged): see the report "
            "and each exam.json",
            len(review),
        )
    return result


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _warn_changed_options(out: Path, options: RunOptions) -> None:
    try:
        previous = json.loads((out / "run.json").read_text()).get("options")
    except (OSError, ValueError, AttributeError):
        return
    if previous and previous != options.to_json():
        changed = sorted(k for k in options.to_json() if previous.get(k) != options.to_json()[k])
        logger.warning(
            "%s was made with other options (%s differ); exams are recomputed with the new ones",
            out,
            ", ".join(changed),
        )


# -- scheduling ---------------------------------------------------------------------------------


def _task(
    spec: ExamSpec,
    study: Study,
    out: Path,
    options: RunOptions,
    results: dict[tuple[str, str], ExamResult],
    force: bool,
    fit_workers: int | None,
    log_level: int,
) -> ExamTask | None:
    """The exam's task, or None while it waits for its subject's baseline."""
    common = {
        "spec": spec,
        "folder": out / spec.subject / spec.visit,
        "options": options,
        "force": force,
        "fit_workers": fit_workers,
        "log_level": log_level,
    }
    if spec.discs is not None:
        return ExamTask(plan="discs", **common)
    if spec.is_baseline:
        return ExamTask(plan="auto", **common)
    base = study.baseline(spec.subject)
    done = results.get(base.key)
    if done is None:
        return None
    has_rois = done.measured or (done.status == "failed" and done.stage == "measure")
    if has_rois and done.digest:
        return ExamTask(
            plan="propagate",
            baseline=base,
            baseline_folder=out / base.subject / base.visit,
            baseline_digest=done.digest,
            **common,
        )
    stage = f" at stage {done.stage}" if done.stage else ""
    return ExamTask(
        plan="auto", fallback=f"baseline {base.visit} failed{stage}; no ROIs to propagate", **common
    )


def _note_done(result: ExamResult) -> None:
    if result.skipped:
        logger.info("%s: %s (reused)", result.label, result.status)
    elif result.status == "ok":
        logger.info("%s: ok in %.1f s (ROIs: %s)", result.label, result.seconds, result.rois)
    else:
        logger.warning(
            "%s: %s at stage %s: %s", result.label, result.status, result.stage, result.error
        )


def _execute(
    study: Study,
    out: Path,
    options: RunOptions,
    workers: int,
    force: bool,
    progress: ProgressCallback | None,
    log_level: int,
    client: Any = None,
) -> dict[tuple[str, str], ExamResult]:
    results: dict[tuple[str, str], ExamResult] = {}
    ordered = study.ordered()
    total = len(ordered)

    def finish(result: ExamResult) -> None:
        results[result.key] = result
        _note_done(result)
        if progress is not None:
            progress(result, len(results), total)

    if workers == 1 and client is None:
        for spec in ordered:
            task = _task(spec, study, out, options, results, force, None, log_level)
            finish(run_exam(task))
        return results

    if client is not None:
        engine: PoolEngine | DaskEngine = DaskEngine(client)
    else:
        engine = PoolEngine(workers, threads_per_worker(workers))
    # Baselines first, so that the follow-ups waiting for them are released early.
    waiting = sorted(ordered, key=lambda e: not e.is_baseline)
    pending: dict[Any, ExamSpec] = {}
    try:
        while waiting or pending:
            still = []
            for spec in waiting:
                task = _task(spec, study, out, options, results, force, 1, log_level)
                if task is None:
                    still.append(spec)
                    continue
                try:
                    pending[engine.submit(task)] = spec
                except (BrokenProcessPool, RuntimeError) as exc:
                    finish(_crashed(spec, out, engine.crash_reason(exc)))
            waiting = still
            if not pending:
                if waiting:  # pragma: no cover - a baseline always completes first
                    raise RuntimeError("study scheduling stalled")
                break
            done = engine.wait(list(pending))
            for future in sorted(done, key=lambda f: ordered.index(pending[f])):
                spec = pending.pop(future)
                try:
                    result = engine.result(future)
                except Exception as exc:  # a dead worker, or a result that cannot be pickled
                    result = _crashed(spec, out, engine.crash_reason(exc))
                finish(result)
    except BaseException:
        engine.close(cancel=True)
        raise
    engine.close()
    return results


def _crashed(spec: ExamSpec, out: Path, error: str) -> ExamResult:
    return ExamResult(
        subject=spec.subject,
        visit=spec.visit,
        months=spec.months,
        status="failed",
        stage="run",
        error=" ".join(error.split()),
        folder=out / spec.subject / spec.visit,
    )


# -- study tables ------------------------------------------------------------------------------


def _assemble(
    study: Study,
    out: Path,
    exams: list[ExamResult],
    tau_pct: float,
    max_time_shift_h: float,
    make_report: bool,
) -> RunResult:
    frames, exam_rows, error_rows, review_notes = [], [], [], []
    for r in exams:
        folder = out / r.subject / r.visit
        record = load_exam_record(folder) if r.digest else None
        if record is not None and record.get("digest") != r.digest:
            record = None
        if r.measured:
            frames.append(read_exam_measurements(folder / MEASUREMENTS_CSV))
        if record is not None and record.get("exam_row"):
            exam_rows.append(record["exam_row"])
        if r.status != "ok":
            error_rows.append(
                {"subject": r.subject, "visit": r.visit, "stage": r.stage, "error": r.error}
            )
        if r.review and r.measured:
            review_notes.append(f"{r.label}: review the ROIs: {'; '.join(r.review)}.")

    if frames:
        measurements = sort_measurements(pd.concat(frames, ignore_index=True))
    else:
        measurements = pd.DataFrame({c: pd.Series(dtype=object) for c in ALL_COLUMNS})
    exams_table = pd.DataFrame(exam_rows, columns=list(EXAM_COLUMNS))
    errors = pd.DataFrame(error_rows, columns=list(ERROR_COLUMNS))
    m_path = out / "measurements.csv"
    write_measurements(measurements, m_path)
    write_table(exams_table, out / "exams.csv", kind="exams")
    write_table(errors, out / "errors.csv", kind="errors")

    notes: list[str] = []
    if len(measurements):
        changes = change_table(
            measurements[list(MEASUREMENT_COLUMNS)],
            tau_pct=tau_pct,
            exams=exams_table if len(exams_table) else None,
            max_time_shift_h=max_time_shift_h,
            missing_baseline="skip",
            source=str(m_path),
        )
        notes = list(changes.attrs.get("notes", []))
    else:
        changes = pd.DataFrame({c: pd.Series(dtype=object) for c in CHANGE_COLUMNS})
    c_path = out / "changes.csv"
    before = c_path.read_bytes() if c_path.is_file() else None
    write_table(changes, c_path, kind="changes")
    changed = c_path.read_bytes() != before
    for name in ("trial_table.csv", "trial_endpoints.csv", "trial_endpoints.xlsx",
                 REPORT_UNBLINDED):  # fmt: skip
        stale = out / name
        if stale.is_file():
            # The folder is blinded again; a warning only when the changes it was made from differ.
            stale.unlink()
            logger.log(
                logging.WARNING if changed else logging.INFO,
                "removed %s%s; run 'discT2 report %s --arms arms.csv' again to unblind",
                stale,
                ": it was made from earlier measurements" if changed else " (blinded again)",
                out,
            )

    result = RunResult(
        out_dir=out,
        exams=exams,
        measurements=measurements,
        changes=changes,
        exams_table=exams_table,
        errors=errors,
        notes=notes,
    )
    if make_report:
        try:
            result.report = _report(out, result, notes + review_notes, tau_pct, max_time_shift_h)
        except Exception as exc:  # the tables are written; a report bug must not hide them
            result.report_error = f"{type(exc).__name__}: {exc}"
            logger.error("%s could not be made: %s", REPORT_BLINDED, result.report_error)
    return result


def _report(
    out: Path, result: RunResult, notes: list[str], tau_pct: float, max_time_shift_h: float
) -> Path:
    from discT2.report import exam_map_figures

    drift = None
    if len(result.exams_table):
        drift = protocol_drift(
            result.exams_table, max_time_shift_h=max_time_shift_h, missing_baseline="skip"
        )
    missing_maps: list[str] = []
    maps = []
    if len(result.measurements):
        maps = exam_map_figures(
            out, result.measurements[list(MEASUREMENT_COLUMNS)], notes=missing_maps
        )
    if missing_maps:
        notes = [*notes, f"T2-map figures: {len(missing_maps)} exams or discs without one."]
    return write_report(
        out / REPORT_BLINDED,
        result.changes,
        measurements=result.measurements[list(MEASUREMENT_COLUMNS)]
        if len(result.measurements)
        else None,
        errors=result.errors,
        drift=drift,
        map_figures=maps,
        notes=notes,
        tau_pct=tau_pct,
    )


def _write_run_json(
    out: Path,
    study: Study,
    result: RunResult,
    options: RunOptions,
    workers: int,
    force: bool,
    tau_pct: float,
    max_time_shift_h: float,
    started: str,
    seconds: float,
    engine: str = "",
) -> None:
    doc = {
        "discT2": __version__,
        "software": _software(),
        "manifest": str(study.path) if study.path else None,
        "started": started,
        "finished": _now(),
        "seconds": round(seconds, 2),
        "workers": workers,
        "engine": engine,
        "force": force,
        "options": options.to_json(),
        "tau_pct": tau_pct,
        "max_time_shift_h": max_time_shift_h,
        "counts": {
            "subjects": len(study.subjects),
            "exams": len(result.exams),
            "ok": result.count("ok"),
            "partial": result.count("partial"),
            "failed": result.count("failed"),
            "reused": result.n_skipped,
            "measurement_rows": len(result.measurements),
            "change_rows": len(result.changes),
        },
        "report": REPORT_BLINDED if result.report else result.report_error or None,
        "notes": result.notes,
        "exams": [
            {
                "subject": e.subject,
                "visit": e.visit,
                "status": e.status,
                "stage": e.stage,
                "error": e.error,
                "reused": e.skipped,
                "seconds": round(e.seconds, 3),
                "rois": e.rois,
                "review": e.review,
            }
            for e in result.exams
        ],
    }
    write_json(out / "run.json", doc)
