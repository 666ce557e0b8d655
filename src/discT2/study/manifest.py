"""The study manifest ``study.csv``: one row per exam, parsed and checked once.

Format (docs/reference/formats.md)::

    subject,visit,months,dicom,index_disc,control_discs,discs
    S01,baseline,0,S01/baseline/dicom,L4-L5,L2-L3;L3-L4,S01/baseline/discs.json
    S01,m12,12,S01/m12/dicom,L4-L5,L2-L3;L3-L4,

Paths are relative to the manifest's folder (absolute paths are kept as they are). ``discs`` (a
``discs.json`` for that exam) and ``series`` (which series of a DICOM folder holding several:
SeriesNumber, SeriesInstanceUID or SeriesDescription) are optional columns and may be empty.
Level names accept the usual spellings (``L4/L5``, ``L4-5``) and are normalised. Columns the
manifest does not define are ignored (and never copied into an output).

Every problem is a :class:`~discT2.errors.StudyError` whose message names the file, the line (as an
editor counts it, the header being line 1) and the column. A missing DICOM folder or discs file is
not a manifest error: it makes that exam fail in the run (``errors.csv``) while the others go on.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from discT2.errors import RoiError, StudyError
from discT2.report._visits import natural_key
from discT2.roi.levels import LEVELS, normalise_level

__all__ = ["MANIFEST_COLUMNS", "OPTIONAL_COLUMNS", "ExamSpec", "Study", "read_study"]

logger = logging.getLogger(__name__)

#: Required columns of ``study.csv``, in their documented order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "subject",
    "visit",
    "months",
    "dicom",
    "index_disc",
    "control_discs",
)
#: Optional columns: a discs.json per exam, and which series of a folder with several.
OPTIONAL_COLUMNS: tuple[str, ...] = ("discs", "series")

# Subject and visit codes become folder names of the output: keep them to safe characters.
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
#: Longest subject or visit code: each names an output folder, and file systems allow 255 bytes
#: per name (with room left for the temporary names written beside it).
MAX_CODE_LENGTH = 64


@dataclass(frozen=True)
class ExamSpec:
    """One exam of a study, as the manifest gives it (paths resolved).

    Attributes
    ----------
    subject, visit : str
        Subject code and visit name (also the output folder ``DIR/<subject>/<visit>``).
    months : float
        Time since the subject's baseline (0 at baseline).
    dicom : Path
        The exam's DICOM folder or file, or its NIfTI series.
    index_disc : str
        The treated disc (canonical level name).
    control_discs : tuple of str
        The control discs (canonical level names; may be empty).
    discs : Path or None
        A ``discs.json`` with the disc geometry of this exam, if the manifest gives one.
    series : int, str or None
        Which series of ``dicom`` (SeriesNumber, UID or description), if given.
    line : int
        Line of the manifest (header = line 1), for messages.
    dicom_text, discs_text : str
        The paths as written in the manifest (recorded in ``exam.json``).
    """

    subject: str
    visit: str
    months: float
    dicom: Path
    index_disc: str
    control_discs: tuple[str, ...]
    discs: Path | None = None
    series: int | str | None = None
    line: int = 0
    dicom_text: str = ""
    discs_text: str = ""

    @property
    def key(self) -> tuple[str, str]:
        """``(subject, visit)``."""
        return (self.subject, self.visit)

    @property
    def is_baseline(self) -> bool:
        """True for the subject's baseline visit (months 0)."""
        return self.months == 0

    @property
    def label(self) -> str:
        """``'subject/visit'``, as exams are named in logs and messages."""
        return f"{self.subject}/{self.visit}"

    def role(self, level: str) -> str:
        """Role of a disc in this exam: ``index``, ``control`` or ``other``.

        Parameters
        ----------
        level : str
            Disc level, e.g. ``'L4-L5'``.

        Returns
        -------
        str
            ``'index'``, ``'control'`` or ``'other'``.
        """
        if level == self.index_disc:
            return "index"
        if level in self.control_discs:
            return "control"
        return "other"


class Study:
    """A parsed, checked study manifest: the exams of every subject, baseline first.

    Build it with :func:`read_study` (or :meth:`Study.read`); the object is valid once built.

    Parameters
    ----------
    exams : sequence of ExamSpec
        The exams (checked: unique subject x visit, one baseline per subject, one index disc
        and one set of controls per subject).
    path : path-like, optional
        The manifest file, for messages and provenance.

    Raises
    ------
    StudyError
        Duplicate exams, a subject without (or with two) baselines, or a subject whose index or
        control discs differ between visits.

    Examples
    --------
    >>> from pathlib import Path
    >>> exams = [ExamSpec("S1", "M0", 0.0, Path("a"), "L4-L5", ("L2-L3",)),
    ...          ExamSpec("S1", "M12", 12.0, Path("b"), "L4-L5", ("L2-L3",))]
    >>> study = Study(exams)
    >>> study.subjects, [e.visit for e in study.visits("S1")], study.baseline("S1").visit
    (['S1'], ['M0', 'M12'], 'M0')
    """

    def __init__(self, exams: Sequence[ExamSpec], *, path: str | os.PathLike | None = None):
        self.path: Path | None = Path(path) if path is not None else None
        self.exams: tuple[ExamSpec, ...] = tuple(exams)
        where = str(self.path) if self.path else "study"
        if not self.exams:
            raise StudyError(f"{where}: no exams (the manifest has a header but no rows)")
        _check_study(self.exams, where)

    @classmethod
    def read(cls, path: str | os.PathLike) -> Study:
        """Read and check a ``study.csv`` (see :func:`read_study`).

        Parameters
        ----------
        path : path-like
            The manifest.

        Returns
        -------
        Study
            The parsed, checked manifest.
        """
        return read_study(path)

    @property
    def folder(self) -> Path | None:
        """Folder of the manifest (paths in it are relative to this)."""
        return self.path.parent if self.path is not None else None

    @property
    def subjects(self) -> list[str]:
        """Subject codes in natural order (``S2`` before ``S10``)."""
        return sorted({e.subject for e in self.exams}, key=natural_key)

    def visits(self, subject: str) -> list[ExamSpec]:
        """A subject's exams in time order (baseline first).

        Parameters
        ----------
        subject : str
            Subject code as in the manifest.

        Returns
        -------
        list of ExamSpec
            Sorted by months, then by visit name.

        Raises
        ------
        StudyError
            The subject is not in the study.
        """
        found = [e for e in self.exams if e.subject == subject]
        if not found:
            raise StudyError(f"no subject {subject!r} in the study")
        return sorted(found, key=lambda e: (e.months, natural_key(e.visit)))

    def baseline(self, subject: str) -> ExamSpec:
        """A subject's baseline exam (months 0).

        Parameters
        ----------
        subject : str
            Subject code as in the manifest.

        Returns
        -------
        ExamSpec
            The exam at months 0.
        """
        return self.visits(subject)[0]

    def exam(self, subject: str, visit: str) -> ExamSpec:
        """One exam by subject and visit.

        Parameters
        ----------
        subject, visit : str
            Subject and visit codes as in the manifest.

        Returns
        -------
        ExamSpec
            The exam.

        Raises
        ------
        StudyError
            No such exam in the study.
        """
        for e in self.exams:
            if e.key == (subject, visit):
                return e
        raise StudyError(f"no exam {subject}/{visit} in the study")

    def ordered(self) -> list[ExamSpec]:
        """Every exam: subjects in natural order, each subject's baseline first."""
        return [e for s in self.subjects for e in self.visits(s)]

    def __iter__(self) -> Iterator[ExamSpec]:
        return iter(self.ordered())

    def __len__(self) -> int:
        return len(self.exams)

    def __repr__(self) -> str:
        where = f"{self.path}, " if self.path else ""
        return f"Study({where}{len(self.subjects)} subjects, {len(self.exams)} exams)"


def read_study(path: str | os.PathLike) -> Study:
    """Read and check a study manifest (``study.csv``).

    Parameters
    ----------
    path : path-like
        The manifest. Columns ``subject, visit, months, dicom, index_disc, control_discs``,
        optional ``discs`` and ``series``; paths relative to the manifest's folder;
        ``control_discs`` separated by ``;``.

    Returns
    -------
    Study

    Raises
    ------
    StudyError
        The file is missing or not a CSV table; a required column is missing; a required cell is
        empty; ``months`` is not a number >= 0; an unknown disc level; the index disc also
        listed as a control; a control listed twice; a subject or visit code that cannot be a
        folder name; two rows for one subject and visit; a subject without a baseline
        (months 0) or with two; index or control discs that change between a subject's visits.
        The message names the file, the line and the column.
    """
    path = Path(path)
    if path.is_dir():
        candidate = path / "study.csv"
        if not candidate.is_file():
            raise StudyError(f"{path}: a folder without study.csv; give the manifest file")
        path = candidate
    if not path.is_file():
        raise StudyError(f"{path}: no such study manifest (expected a study.csv file)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(f"{path}: not a readable UTF-8 text file ({exc})") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise StudyError(f"{path}: empty file; expected a header {','.join(MANIFEST_COLUMNS)}")
    header = [h.strip() for h in rows[0]]
    missing = [c for c in MANIFEST_COLUMNS if c not in header]
    if missing:
        raise StudyError(
            f"{path}: missing column(s) {', '.join(missing)}; the header must name "
            f"{','.join(MANIFEST_COLUMNS)} (and optionally {', '.join(OPTIONAL_COLUMNS)}); "
            f"got {','.join(header) or 'nothing'}"
        )
    dup = sorted({h for h in header if h and header.count(h) > 1})
    if dup:
        raise StudyError(f"{path}: column(s) {', '.join(dup)} appear more than once in the header")
    unknown = [h for h in header if h and h not in MANIFEST_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        logger.info("%s: column(s) %s ignored", path, ", ".join(unknown))
    known = MANIFEST_COLUMNS + OPTIONAL_COLUMNS
    col = {name: header.index(name) for name in known if name in header}
    folder = path.parent
    exams = []
    for line, raw in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in raw):
            continue  # blank line
        if len(raw) > len(header):
            raise StudyError(
                f"{path} line {line}: {len(raw)} cells but the header has {len(header)} columns "
                "(a ',' inside a value? quote it)"
            )
        cells = {name: (raw[i].strip() if i < len(raw) else "") for name, i in col.items()}
        exams.append(_exam(cells, line, path, folder))
    return Study(exams, path=path)


def _exam(cells: dict[str, str], line: int, path: Path, folder: Path) -> ExamSpec:
    def where(column: str) -> str:
        return f"{path} line {line}, column '{column}'"

    for column in MANIFEST_COLUMNS:
        if column != "control_discs" and not cells[column]:
            raise StudyError(f"{where(column)}: empty; every exam needs a {column}")
    for column in ("subject", "visit"):
        value = cells[column]
        if not _CODE.match(value) or value in (".", ".."):
            raise StudyError(
                f"{where(column)}: {value!r} cannot name an output folder; use letters, digits "
                "and _ . + - (starting with a letter or digit)"
            )
        if len(value) > MAX_CODE_LENGTH:
            raise StudyError(
                f"{where(column)}: {value[:20]!r}... is {len(value)} characters long; it names an "
                f"output folder, so at most {MAX_CODE_LENGTH}"
            )
    try:
        months = float(cells["months"])
    except ValueError:
        raise StudyError(
            f"{where('months')}: {cells['months']!r} is not a number (months since baseline, "
            "0 at baseline)"
        ) from None
    if not math.isfinite(months) or months < 0:
        raise StudyError(
            f"{where('months')}: {cells['months']!r}; months since baseline must be >= 0"
        )
    index = _level(cells["index_disc"], where("index_disc"))
    controls: list[str] = []
    for name in (c.strip() for c in cells["control_discs"].split(";")):
        if not name:
            continue
        level = _level(name, where("control_discs"))
        if level in controls:
            raise StudyError(f"{where('control_discs')}: {level} is listed twice")
        if level == index:
            raise StudyError(
                f"{where('control_discs')}: {level} is the index (treated) disc of this row; a "
                "disc cannot be its own control"
            )
        controls.append(level)
    discs_text = cells.get("discs", "")
    series_text = cells.get("series", "")
    series: int | str | None = None
    if series_text:
        series = int(series_text) if series_text.isdigit() else series_text
    return ExamSpec(
        subject=cells["subject"],
        visit=cells["visit"],
        months=months + 0.0,
        dicom=_resolve(folder, cells["dicom"]),
        index_disc=index,
        control_discs=tuple(controls),
        discs=_resolve(folder, discs_text) if discs_text else None,
        series=series,
        line=line,
        dicom_text=cells["dicom"],
        discs_text=discs_text,
    )


def _level(name: str, where: str) -> str:
    try:
        return normalise_level(name)
    except RoiError:
        raise StudyError(
            f"{where}: unknown disc level {name!r}; expected one of {', '.join(LEVELS)} "
            "(spellings such as 'L4/L5' or 'L4-5' are accepted)"
        ) from None


def _resolve(folder: Path, text: str) -> Path:
    p = Path(text).expanduser()
    return p if p.is_absolute() else folder / p


def _check_study(exams: Sequence[ExamSpec], where: str) -> None:
    def at(e: ExamSpec) -> str:
        return f"{where} line {e.line}" if e.line else f"{where} ({e.label})"

    seen: dict[tuple[str, str], ExamSpec] = {}
    for e in exams:
        if e.key in seen:
            raise StudyError(
                f"{at(e)}: subject {e.subject} visit {e.visit} is already on line "
                f"{seen[e.key].line}; one row per exam"
            )
        seen[e.key] = e
    by_subject: dict[str, list[ExamSpec]] = {}
    for e in exams:
        by_subject.setdefault(e.subject, []).append(e)
    for subject, rows in by_subject.items():
        base = [e for e in rows if e.months == 0]
        if not base:
            raise StudyError(
                f"{where}: subject {subject} has no baseline (no row with months 0; lines "
                f"{', '.join(str(e.line) for e in rows)}); changes are relative to baseline"
            )
        if len(base) > 1:
            raise StudyError(
                f"{where}: subject {subject} has {len(base)} baselines (months 0 on lines "
                f"{', '.join(str(e.line) for e in base)}); give exactly one"
            )
        first = base[0]
        for e in rows:
            if e.index_disc != first.index_disc:
                raise StudyError(
                    f"{at(e)}, column 'index_disc': {e.index_disc} differs from the baseline's "
                    f"{first.index_disc} (line {first.line}); a subject keeps its index disc"
                )
            if set(e.control_discs) != set(first.control_discs):
                raise StudyError(
                    f"{at(e)}, column 'control_discs': {';'.join(e.control_discs) or 'none'} "
                    f"differs from the baseline's {';'.join(first.control_discs) or 'none'} (line "
                    f"{first.line}); a subject keeps its control discs"
                )
