"""Study runs: from a trial's manifest of DICOM folders to measurements, changes and a report.

::

    study = read_study("study.csv")                  # checked manifest
    result = run_study(study, "results", workers=2)  # every exam, then the study tables
    result.changes                                   # as DIR/changes.csv
    result.exit_status                               # 0 all exams done, 1 some failed

The per-exam work (:func:`run_exam`) and the output layout are described in
:mod:`discT2.study.exam` and :mod:`discT2.study.runner`; ``docs/tutorials/study.md`` walks through
a whole study.
"""

from discT2.study.exam import EXAM_FILES, STAGES, ExamResult, ExamTask, run_exam
from discT2.study.manifest import MANIFEST_COLUMNS, ExamSpec, Study, read_study
from discT2.study.options import DEFAULT_METHOD, RunOptions
from discT2.study.runner import RunResult, run_study

__all__ = [
    "DEFAULT_METHOD",
    "EXAM_FILES",
    "MANIFEST_COLUMNS",
    "STAGES",
    "ExamResult",
    "ExamSpec",
    "ExamTask",
    "RunOptions",
    "RunResult",
    "Study",
    "read_study",
    "run_exam",
    "run_study",
]
