"""Disc ROI widget: place the discs of an exam and see the T2 of their five ROIs live.

Choose the exam and the level, then place the disc one of four ways: click its four corners, draw
its outline, click once inside it (grown with :func:`discT2.grow_disc`), or detect every disc of
the slice (:func:`discT2.detect_discs`). The five ROIs (:func:`discT2.place_rois`) appear as a
Labels layer and the table shows :func:`discT2.measure` of the exam's T2 map, both updated after
every edit of a corner or outline. Every change is autosaved; Save writes ``rois.json``,
``rois.nii.gz`` and ``discs.json`` like ``discT2 rois``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from discT2 import DiscT2Error
from discT2.roi import LEVELS
from napari_disct2._display import show_scales
from napari_disct2._editor import ExamEditor, editor_for
from napari_disct2._exam import Exam, exams_in
from napari_disct2._session import flags_of, review_status, table_rows
from napari_disct2._tables import StatsTable, fill, format_ms
from napari_disct2._work import Jobs

if TYPE_CHECKING:
    import napari

__all__ = ["DiscRoiWidget"]

STATS_HEADERS = ("level", "ROI", "n", "mean (ms)", "median (ms)", "SD (ms)")
DISC_HEADERS = ("level", "slice", "made", "reader", "Pfirrmann", "status", "flags")


class DiscRoiWidget(QWidget):
    """Place disc ROIs on an exam; table of n / mean / median / SD T2 per ROI."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        show_scales(napari_viewer)  # scale bar and T2 colour bar on, as in `make napari`
        self.jobs = Jobs(on_error=self._job_failed)
        self.editor: ExamEditor | None = None
        self._exams: list[Exam] = []
        self._last_levels: set[str] = set()

        self.exam_box = QComboBox()
        self.reader_edit = QLineEdit()
        self.reader_edit.setPlaceholderText("your name (recorded with every disc)")
        self.level_box = QComboBox()
        self.level_box.addItems(list(LEVELS))
        self.level_box.setCurrentText("L4-L5")
        self.pfirrmann_box = QComboBox()
        self.pfirrmann_box.addItems(["–", "1", "2", "3", "4", "5"])
        self.slice_spin = QSpinBox()
        self.mid_button = QPushButton("mid-sagittal")
        slice_row = QHBoxLayout()
        slice_row.addWidget(self.slice_spin)
        slice_row.addWidget(self.mid_button)

        form = QFormLayout()
        form.addRow("exam", self.exam_box)
        form.addRow("reader", self.reader_edit)
        form.addRow("level", self.level_box)
        form.addRow("Pfirrmann grade", self.pfirrmann_box)
        form.addRow("slice", slice_row)

        self.corners_button = QPushButton("4 corners")
        self.outline_button = QPushButton("outline")
        self.grow_button = QPushButton("click to grow")
        self.detect_button = QPushButton("detect on slice")
        self.remove_button = QPushButton("remove disc")
        self.load_button = QPushButton("load…")
        self.corners_button.setToolTip("Click the disc's four corners (any order) on the slice")
        self.outline_button.setToolTip("Draw the disc's outline; double-click to close it")
        self.grow_button.setToolTip("Click once inside the disc")
        self.detect_button.setToolTip("Find every disc on the slice (check them afterwards)")
        buttons = QGridLayout()
        for i, b in enumerate(
            (
                self.corners_button,
                self.outline_button,
                self.grow_button,
                self.detect_button,
                self.remove_button,
                self.load_button,
            )
        ):
            buttons.addWidget(b, i // 3, i % 3)

        self.endplate_margin = QDoubleSpinBox()
        self.outer_margin = QDoubleSpinBox()
        for spin in (self.endplate_margin, self.outer_margin):
            spin.setRange(0.0, 10.0)
            spin.setSingleStep(0.5)
            spin.setValue(1.0)
            spin.setSuffix(" voxel")
        self.extra_slices = QSpinBox()
        self.extra_slices.setRange(0, 5)
        self.extra_slices.setPrefix("mid ± ")
        options = QFormLayout()
        options.addRow("endplate margin", self.endplate_margin)
        options.addRow("outer margin", self.outer_margin)
        options.addRow("slices", self.extra_slices)

        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("output folder")
        self.browse_button = QPushButton("…")
        self.save_button = QPushButton("save")
        save_row = QHBoxLayout()
        save_row.addWidget(self.folder_edit)
        save_row.addWidget(self.browse_button)
        save_row.addWidget(self.save_button)

        self.stats_table = StatsTable()
        self.disc_table = StatsTable()
        self.disc_table.setMinimumHeight(100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addLayout(options)
        layout.addLayout(save_row)
        layout.addWidget(QLabel("T2 per ROI (discT2.measure)"))
        layout.addWidget(self.stats_table)
        layout.addWidget(QLabel("discs"))
        layout.addWidget(self.disc_table)
        layout.addWidget(self.status)

        self.exam_box.currentIndexChanged.connect(self._exam_chosen)
        self.reader_edit.textChanged.connect(self._reader_changed)
        self.level_box.currentTextChanged.connect(self._level_changed)
        self.pfirrmann_box.currentIndexChanged.connect(self._pfirrmann_changed)
        self.slice_spin.valueChanged.connect(self._slice_changed)
        self.mid_button.clicked.connect(self.show_mid_slice)
        self.corners_button.clicked.connect(lambda: self.start("corners"))
        self.outline_button.clicked.connect(lambda: self.start("outline"))
        self.grow_button.clicked.connect(lambda: self.start("grow"))
        self.detect_button.clicked.connect(self.detect)
        self.remove_button.clicked.connect(self.remove_disc)
        self.load_button.clicked.connect(self._load_clicked)
        self.browse_button.clicked.connect(self._browse)
        self.save_button.clicked.connect(self._save_clicked)
        for spin in (self.endplate_margin, self.outer_margin, self.extra_slices):
            spin.valueChanged.connect(self._options_changed)
        self.viewer.layers.events.inserted.connect(self._refresh_exams)
        self.viewer.layers.events.removed.connect(self._refresh_exams)
        self.viewer.dims.events.point.connect(self._dims_moved)
        self._refresh_exams()

    # ---------------------------------------------------------------- state

    @property
    def exam(self) -> Exam | None:
        """The exam being edited."""
        return self.editor.exam if self.editor is not None else None

    @property
    def session(self) -> Any:
        """The exam's disc session (None without an exam)."""
        return self.editor.session if self.editor is not None else None

    @property
    def busy(self) -> bool:
        """True while a long call (growing, detecting) runs."""
        return self.jobs.busy

    @property
    def level(self) -> str:
        """The level being placed."""
        return self.level_box.currentText()

    def set_level(self, level: str) -> None:
        """Choose the level new corners, outlines and clicks belong to."""
        self.level_box.setCurrentText(level)

    def message(self, text: str) -> None:
        """Show a message to the reader."""
        self.status.setText(text)

    # ---------------------------------------------------------------- exams

    def _refresh_exams(self, *_: Any) -> None:
        exams = [e for e in exams_in(self.viewer) if e.image is not None]
        if [id(e) for e in exams] == [id(e) for e in self._exams]:
            return
        current = self.exam
        self._exams = exams
        self.exam_box.blockSignals(True)
        self.exam_box.clear()
        self.exam_box.addItems([e.name for e in exams])
        self.exam_box.blockSignals(False)
        if current is not None and any(current is e for e in exams):
            self.exam_box.setCurrentIndex([id(e) for e in exams].index(id(current)))
        elif exams:
            self.exam_box.setCurrentIndex(len(exams) - 1)
            self._exam_chosen(len(exams) - 1)
        else:
            self._detach()

    def select_exam(self, exam: Exam) -> None:
        """Edit this exam (it must have layers in the viewer)."""
        self._refresh_exams()
        index = [id(e) for e in self._exams].index(id(exam))
        if self.exam_box.currentIndex() != index:
            self.exam_box.setCurrentIndex(index)
        else:
            self._exam_chosen(index)

    def _exam_chosen(self, index: int) -> None:
        if not 0 <= index < len(self._exams):
            return
        exam = self._exams[index]
        if self.editor is not None and self.editor.exam is exam and self.editor.alive:
            return
        self._detach()
        editor = editor_for(self.viewer, exam)
        self.editor = editor
        editor.notices.append(self.message)
        editor.grow_runner = self._grow_in_worker
        editor.set_level(self.level)
        session = editor.session
        session.reader = self.reader_edit.text().strip() or session.reader
        session.listeners.append(self._session_changed)
        self._show_options(session.place_options)
        self.slice_spin.blockSignals(True)
        self.slice_spin.setRange(0, exam.n_slices - 1)
        self.slice_spin.blockSignals(False)
        self._last_levels = set(session.discs)
        restored = session.restore()
        if restored:
            self.message(
                f"Restored {', '.join(restored)} from the autosave ({session.restored_from})."
            )
        discs = list(session.discs.values())
        k = discs[0].slice if discs and discs[0].slice is not None else exam.mid_slice
        editor.show_slice(k)
        self._dims_moved()
        self._session_changed()

    def _detach(self) -> None:
        if self.editor is None:
            return
        if self.message in self.editor.notices:
            self.editor.notices.remove(self.message)
        if self._session_changed in self.editor.session.listeners:
            self.editor.session.listeners.remove(self._session_changed)
        self.editor = None

    # ---------------------------------------------------------------- placing

    def start(self, mode: str) -> None:
        """Let the reader place the current level: ``corners``, ``outline`` or ``grow``."""
        if self.editor is None:
            self.message("Open an exam first.")
            return
        self.editor.start(mode)
        hint = {
            "corners": "Click the four corners of {} (any order); drag them to adjust.",
            "outline": "Draw the outline of {}; double-click to close it.",
            "grow": "Click once inside {}.",
        }[mode]
        self.message(hint.format(self.level))

    def detect(self, *_: Any) -> Any:
        """Detect the discs of the current slice in a worker; returns the worker."""
        if self.editor is None:
            self.message("Open an exam first.")
            return None
        if self.busy:
            self.message("Wait until the running job has finished.")
            return None
        session, k = self.session, self.editor.current_slice()
        self.message(f"Detecting discs on slice {k}…")
        return self.jobs.run(
            lambda: session.detected(slice=k),
            desc="discT2: detecting discs",
            on_done=lambda found: self._detected(session, found),
        )

    def _detected(self, session: Any, found: list) -> None:
        added, kept = session.add_detected(found)
        text = f"Found {len(found)} discs; added {', '.join(added) or 'none'}"
        if kept:
            text += f"; kept your {', '.join(kept)}"
        self.message(text + ". Check each one (status 'to review').")

    def _grow_in_worker(self, level: str, click: Any, k: int) -> None:
        session = self.session
        if self.busy:
            self.message("Wait until the running job has finished, then click again.")
            return
        self.message(f"Growing {level} from the click…")
        self.jobs.run(
            lambda: session.grown(level, click, slice=k),
            desc=f"discT2: growing {level}",
            on_done=lambda disc: self._grown(session, disc),
        )

    def _grown(self, session: Any, disc: Any) -> None:
        session.put(disc)
        self.message(f"{disc.level} grown from the click; check its corners.")

    def remove_disc(self, *_: Any) -> None:
        """Delete the current level's disc."""
        if self.session is not None and self.level in self.session.discs:
            self.session.remove(self.level)
            self.message(f"{self.level} removed.")

    def _advance(self) -> None:
        """Move to the next level down that has no disc yet."""
        if self.session is None:
            return
        i = LEVELS.index(self.level)
        for level in LEVELS[i + 1 :]:
            if level not in self.session.discs:
                self.set_level(level)
                return

    # ---------------------------------------------------------------- files

    def save(self, folder: str | Path | None = None) -> dict[str, Path]:
        """Write rois.json, rois.nii.gz and discs.json into ``folder`` (or the folder field)."""
        if self.session is None:
            raise DiscT2Error("no exam to save")
        folder = folder or self.folder_edit.text().strip()
        if not folder:
            raise DiscT2Error("choose an output folder first")
        written = self.session.save(folder)
        self.folder_edit.setText(str(folder))
        self.message("Saved " + ", ".join(p.name for p in written.values()) + f" in {folder}.")
        return written

    def load(self, path: str | Path) -> list[str]:
        """Read discs.json or rois.json (or a folder with one) onto the exam and place it."""
        if self.session is None:
            raise DiscT2Error("open an exam first")
        levels = self.session.load(path)
        self.message(f"Loaded {', '.join(levels)} from {path}.")
        return levels

    def _save_clicked(self) -> None:
        try:
            self.save()
        except DiscT2Error as exc:
            self.message(f"Not saved: {exc}")

    def _load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load discs.json or rois.json", "", "disc files (discs.json rois.json *.json)"
        )
        if path:
            try:
                self.load(path)
            except DiscT2Error as exc:
                self.message(f"Not loaded: {exc}")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Output folder")
        if folder:
            self.folder_edit.setText(folder)

    # ---------------------------------------------------------------- reactions

    def _reader_changed(self, text: str) -> None:
        if self.session is not None:
            self.session.reader = text.strip()

    def _level_changed(self, level: str) -> None:
        if self.editor is not None:
            self.editor.set_level(level)
        self._show_pfirrmann()

    def _pfirrmann_changed(self, index: int) -> None:
        session = self.session
        if session is None:
            return
        grade = None if index == 0 else index
        disc = session.discs.get(self.level)
        if disc is None:
            if grade is not None:
                self.message(f"Place {self.level} first, then grade it.")
                self._show_pfirrmann()
            return
        if disc.pfirrmann != grade:
            session.set_pfirrmann(self.level, grade)

    def _options_changed(self, *_: Any) -> None:
        if self.session is None:
            return
        self.session.place_options.update(
            endplate_margin=float(self.endplate_margin.value()),
            outer_margin=float(self.outer_margin.value()),
            margin_unit="voxel",
            slices=int(self.extra_slices.value()),
        )
        if self.session.discs:
            self.session.update()

    def _show_options(self, options: dict) -> None:
        for spin, key, default in (
            (self.endplate_margin, "endplate_margin", 1.0),
            (self.outer_margin, "outer_margin", 1.0),
            (self.extra_slices, "slices", 0),
        ):
            spin.blockSignals(True)
            spin.setValue(type(default)(options.get(key, default)))
            spin.blockSignals(False)

    def _slice_changed(self, k: int) -> None:
        if self.editor is not None and self.editor.current_slice() != k:
            self.editor.show_slice(k)

    def _dims_moved(self, *_: Any) -> None:
        if self.editor is None or not self.editor.alive:
            return
        self.slice_spin.blockSignals(True)
        self.slice_spin.setValue(self.editor.current_slice())
        self.slice_spin.blockSignals(False)

    def show_mid_slice(self, *_: Any) -> None:
        """Go to the exam's mid-sagittal slice."""
        if self.editor is not None:
            self.editor.show_slice(self.editor.exam.mid_slice)

    def _job_failed(self, exc: BaseException) -> None:
        self.message(str(exc))

    def _session_changed(self) -> None:
        session = self.session
        if session is None:
            fill(self.stats_table, STATS_HEADERS, [])
            fill(self.disc_table, DISC_HEADERS, [])
            return
        rows = [
            (r["level"], r["roi"], r["n"], *(format_ms(r[k]) for k in ("mean", "median", "sd")))
            for r in table_rows(session.table)
        ]
        fill(self.stats_table, STATS_HEADERS, rows)
        discs = []
        for level in LEVELS:
            if level in session.discs:
                d = session.discs[level]
                status = "not placed" if level in session.failed else review_status(d)
                discs.append(
                    (
                        level,
                        "" if d.slice is None else d.slice,
                        d.method,
                        d.reader,
                        d.pfirrmann or "",
                        status,
                        ", ".join(flags_of(d)),
                    )
                )
        fill(self.disc_table, DISC_HEADERS, discs)
        if session.failed:
            self.message("; ".join(f"{lv} not placed: {err}" for lv, err in session.failed.items()))
        elif session.discs and session.table is None:
            self.message("Fit the T2 map (Fit T2 widget) to see the T2 of the ROIs.")
        levels = set(session.discs)
        new, self._last_levels = levels - self._last_levels, levels
        if self.level in new and self._placing():
            placed = self.level
            self._advance()  # the reader completed a new disc: on to the next level
            if self.level != placed:
                self.message(f"{placed} placed. Next: {self.level}.")
        self._show_pfirrmann()

    def _placing(self) -> bool:
        """True while the reader is adding corners, an outline or a click."""
        editor = self.editor
        active = self.viewer.layers.selection.active
        if editor is None or active not in (editor.corners, editor.outlines, editor.clicks):
            return False
        return active.mode in ("add", "add_polygon")

    def _show_pfirrmann(self) -> None:
        session = self.session
        grade = None
        if session is not None and self.level in session.discs:
            grade = session.discs[self.level].pfirrmann
        self.pfirrmann_box.blockSignals(True)
        self.pfirrmann_box.setCurrentIndex(int(grade or 0))
        self.pfirrmann_box.blockSignals(False)
