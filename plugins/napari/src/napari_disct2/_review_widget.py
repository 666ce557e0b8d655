"""Follow-up review: carry the baseline ROIs to a follow-up exam and review them side by side.

Choose the baseline exam (with its discs placed, or loaded) and the follow-up exam, then
Propagate: :func:`discT2.propagate` registers the follow-up to the baseline and places the
baseline's discs on it. The follow-up is shown to the right of the baseline, on the slice of the
discs. For each disc the reader accepts it, or adjusts its corners or outline on the follow-up
(the same editing as in the Disc ROIs widget; the disc is then marked ``adjusted``), and saves
the follow-up's ``rois.json``, ``rois.nii.gz`` and ``discs.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from discT2 import DiscT2Error, RoiError, propagate
from discT2.roi import LEVELS, ROI_NAMES
from napari_disct2._display import show_scales
from napari_disct2._editor import ExamEditor, editor_for
from napari_disct2._exam import Exam, exams_in
from napari_disct2._session import review_status
from napari_disct2._tables import StatsTable, fill, format_ms
from napari_disct2._work import Jobs

if TYPE_CHECKING:
    import napari

__all__ = ["ReviewWidget"]

DISC_HEADERS = ("level", "slice", "NCC before", "NCC after", "shift (mm)", "status", "flags")
T2_HEADERS = ("level", "ROI", "baseline (ms)", "follow-up (ms)", "n baseline", "n follow-up")
#: Gap between the baseline and the follow-up shown beside it (mm).
GAP_MM = 10.0


class ReviewWidget(QWidget):
    """Propagate baseline ROIs to a follow-up, show both side by side, accept or adjust, save."""

    def __init__(self, napari_viewer: napari.Viewer) -> None:
        super().__init__()
        self.viewer = napari_viewer
        show_scales(napari_viewer)  # scale bar and T2 colour bar on, as in `make napari`
        self.jobs = Jobs(on_error=self._job_failed)
        self.baseline_editor: ExamEditor | None = None
        self.followup_editor: ExamEditor | None = None
        self._exams: list[Exam] = []

        self.baseline_box = QComboBox()
        self.followup_box = QComboBox()
        self.followup_box.setPlaceholderText("open the follow-up exam")
        self.reader_edit = QLineEdit()
        self.reader_edit.setPlaceholderText("your name (recorded with every disc)")
        self.propagate_button = QPushButton("propagate baseline ROIs")
        form = QFormLayout()
        form.addRow("baseline", self.baseline_box)
        form.addRow("follow-up", self.followup_box)
        form.addRow("reader", self.reader_edit)

        self.disc_table = StatsTable()
        self.disc_table.setMinimumHeight(120)
        self.t2_table = StatsTable()
        self.accept_button = QPushButton("accept disc")
        self.accept_all_button = QPushButton("accept all unchanged")
        self.goto_button = QPushButton("show disc")
        row = QHBoxLayout()
        row.addWidget(self.goto_button)
        row.addWidget(self.accept_button)
        row.addWidget(self.accept_all_button)
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("follow-up output folder")
        self.browse_button = QPushButton("…")
        self.save_button = QPushButton("save follow-up")
        save_row = QHBoxLayout()
        save_row.addWidget(self.folder_edit)
        save_row.addWidget(self.browse_button)
        save_row.addWidget(self.save_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.propagate_button)
        layout.addWidget(QLabel("follow-up discs (select one to show or accept it)"))
        layout.addWidget(self.disc_table)
        layout.addLayout(row)
        layout.addWidget(QLabel("mean T2 per ROI (discT2.measure)"))
        layout.addWidget(self.t2_table)
        layout.addLayout(save_row)
        layout.addWidget(self.status)

        self.propagate_button.clicked.connect(self.propagate)
        self.accept_button.clicked.connect(self._accept_clicked)
        self.accept_all_button.clicked.connect(self.accept_unchanged)
        self.goto_button.clicked.connect(self._goto_clicked)
        self.browse_button.clicked.connect(self._browse)
        self.save_button.clicked.connect(self._save_clicked)
        self.reader_edit.textChanged.connect(self._reader_changed)
        self.viewer.layers.events.inserted.connect(self._refresh_exams)
        self.viewer.layers.events.removed.connect(self._refresh_exams)
        self._refresh_exams()

    # ---------------------------------------------------------------- exams

    @property
    def busy(self) -> bool:
        """True while the propagation runs."""
        return self.jobs.busy

    @property
    def baseline(self) -> Exam | None:
        """The chosen baseline exam."""
        i = self.baseline_box.currentIndex()
        return self._exams[i] if 0 <= i < len(self._exams) else None

    @property
    def followup(self) -> Exam | None:
        """The chosen follow-up exam."""
        i = self.followup_box.currentIndex()
        return self._exams[i] if 0 <= i < len(self._exams) else None

    def choose(self, baseline: Exam, followup: Exam) -> None:
        """Set the two exams (both must have layers in the viewer)."""
        self._refresh_exams()
        ids = [id(e) for e in self._exams]
        self.baseline_box.setCurrentIndex(ids.index(id(baseline)))
        self.followup_box.setCurrentIndex(ids.index(id(followup)))

    def _refresh_exams(self, *_: Any) -> None:
        exams = [e for e in exams_in(self.viewer) if e.image is not None]
        if [id(e) for e in exams] == [id(e) for e in self._exams]:
            return
        keep = (self.baseline, self.followup)
        self._exams = exams
        for box, exam, default in (
            (self.baseline_box, keep[0], 0),
            # The last exam opened; none while only one is open (not the baseline itself).
            (self.followup_box, keep[1], len(exams) - 1 if len(exams) > 1 else -1),
        ):
            box.blockSignals(True)
            box.clear()
            box.addItems([e.name for e in exams])
            ids = [id(e) for e in exams]
            box.setCurrentIndex(
                ids.index(id(exam)) if exam is not None and id(exam) in ids else default
            )
            box.blockSignals(False)

    def message(self, text: str) -> None:
        """Show a message to the reader."""
        self.status.setText(text)

    # ---------------------------------------------------------------- propagation

    def propagate(self, *_: Any) -> Any:
        """Propagate the baseline's ROIs to the follow-up in a worker; returns the worker."""
        base, fu = self.baseline, self.followup
        if self.busy:
            self.message("The propagation is still running.")
            return None
        if base is None or fu is None or base is fu:
            self.message("Choose two different exams: the baseline and the follow-up.")
            return None
        rois = base.session.rois
        if rois is None:
            restored = base.session.restore()
            rois = base.session.rois
            if rois is None:
                self.message(
                    f"{base.name} has no discs yet: place them (Disc ROIs widget) or load its "
                    "rois.json first."
                )
                return None
            self.message(f"Using {base.name}'s autosaved discs {', '.join(restored)}.")
        # Registration needs the same kind of image on both sides (propagate's contract).
        if base.series is not None and fu.series is not None:
            b_img, f_img = base.series, fu.series
        elif base.t2map is not None and fu.t2map is not None:
            b_img, f_img = base.t2map, fu.t2map
        else:
            self.message("Both exams need echo images, or both a T2 map.")
            return None
        reader = self.reader_edit.text().strip()
        self.propagate_button.setEnabled(False)
        self.message(f"Registering {fu.name} to {base.name} and propagating…")
        return self.jobs.run(
            lambda: propagate(b_img, rois, f_img, reader=reader),
            desc="discT2: propagating ROIs",
            on_done=lambda result: self._propagated(base, fu, result),
        )

    def _propagated(self, base: Exam, fu: Exam, rois: Any) -> None:
        self.propagate_button.setEnabled(True)
        fu.session.reader = self.reader_edit.text().strip()
        fu.session.adopt(rois)
        self.baseline_editor = editor_for(self.viewer, base)
        self._attach(editor_for(self.viewer, fu))
        self.side_by_side()
        n_review = sum(bool(d.qa.get("registration", {}).get("review")) for d in rois.discs)
        self.message(
            f"Propagated {len(rois.discs)} discs to {fu.name}"
            + (f"; {n_review} flagged for review" if n_review else "")
            + ". Accept each disc or adjust its corners on the follow-up (right)."
        )
        if rois.discs:
            self.show_disc(rois.discs[0].level)

    def _attach(self, editor: ExamEditor) -> None:
        if self.followup_editor is not None:
            old = self.followup_editor
            if self._refresh_tables in old.session.listeners:
                old.session.listeners.remove(self._refresh_tables)
            if self.message in old.notices:
                old.notices.remove(self.message)
        self.followup_editor = editor
        editor.notices.append(self.message)
        editor.session.listeners.append(self._refresh_tables)
        self._refresh_tables()

    def side_by_side(self) -> None:
        """Show the follow-up to the right of the baseline, its disc slice beside the baseline's."""
        base, fu = self.baseline, self.followup
        if base is None or fu is None or self.followup_editor is None:
            return
        b_hi = base.translate[2] + base.scale[2] * (base.frame.display_shape[2] - 0.5)
        f_lo = fu.frame.translate_mm[2] - 0.5 * fu.scale[2]
        offset = np.zeros(3)
        offset[2] = b_hi + GAP_MM - f_lo
        b_disc = next(iter(base.session.discs.values()), None)
        f_disc = next(iter(fu.session.discs.values()), None)
        if b_disc is not None and f_disc is not None:
            b_k = b_disc.slice if b_disc.slice is not None else base.mid_slice
            f_k = f_disc.slice if f_disc.slice is not None else fu.mid_slice
            offset[0] = base.slice_world(b_k) - (fu.frame.translate_mm[0] + fu.scale[0] * f_k)
        fu.offset_mm = offset
        self.followup_editor.apply_offset()
        self.viewer.reset_view()

    # ---------------------------------------------------------------- review

    def show_disc(self, level: str) -> None:
        """Go to the slice of a disc."""
        fu = self.followup
        if fu is None or self.followup_editor is None or level not in fu.session.discs:
            return
        k = fu.session.discs[level].slice
        if k is not None:
            self.followup_editor.show_slice(k)

    def accept(self, level: str) -> None:
        """Accept a follow-up disc as propagated (or as adjusted)."""
        fu = self.followup
        if fu is None or level not in fu.session.discs:
            raise RoiError(f"no follow-up disc {level} to accept")
        fu.session.reader = self.reader_edit.text().strip() or fu.session.reader
        fu.session.accept(level)
        self.message(f"{level} accepted.")

    def accept_unchanged(self, *_: Any) -> list[str]:
        """Accept every follow-up disc still waiting for review; returns their levels."""
        fu = self.followup
        if fu is None:
            return []
        waiting = [lv for lv, d in fu.session.discs.items() if review_status(d) == "to review"]
        for level in waiting:
            self.accept(level)
        self.message(f"Accepted {', '.join(waiting) or 'nothing'}.")
        return waiting

    def save(self, folder: str | Path | None = None) -> dict[str, Path]:
        """Write the follow-up's rois.json, rois.nii.gz and discs.json."""
        fu = self.followup
        if fu is None:
            raise DiscT2Error("no follow-up exam")
        folder = folder or self.folder_edit.text().strip()
        if not folder:
            raise DiscT2Error("choose an output folder first")
        written = fu.session.save(folder)
        self.folder_edit.setText(str(folder))
        waiting = [lv for lv, d in fu.session.discs.items() if review_status(d) == "to review"]
        note = f" Not yet reviewed: {', '.join(waiting)}." if waiting else ""
        self.message(f"Saved the follow-up in {folder}.{note}")
        return written

    def _selected_level(self) -> str | None:
        row = self.disc_table.currentRow()
        item = self.disc_table.item(row, 0) if row >= 0 else None
        return item.text() if item is not None else None

    def _accept_clicked(self) -> None:
        level = self._selected_level()
        if level is None:
            self.message("Select a disc in the table first.")
            return
        self.accept(level)

    def _goto_clicked(self) -> None:
        level = self._selected_level()
        if level is not None:
            self.show_disc(level)

    def _save_clicked(self) -> None:
        try:
            self.save()
        except DiscT2Error as exc:
            self.message(f"Not saved: {exc}")

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Follow-up output folder")
        if folder:
            self.folder_edit.setText(folder)

    def _reader_changed(self, text: str) -> None:
        if self.followup is not None and self.followup_editor is not None:
            self.followup.session.reader = text.strip()

    def _job_failed(self, exc: BaseException) -> None:
        self.propagate_button.setEnabled(True)
        self.message(f"Propagation failed: {exc}")

    def _refresh_tables(self) -> None:
        base, fu = self.baseline, self.followup
        if fu is None:
            return
        rows = []
        for level in LEVELS:
            d = fu.session.discs.get(level)
            if d is None:
                continue
            reg = d.qa.get("registration", {})
            status = "not placed" if level in fu.session.failed else review_status(d)
            rows.append(
                (
                    level,
                    "" if d.slice is None else d.slice,
                    _num(reg.get("ncc_before")),
                    _num(reg.get("ncc_after")),
                    _num(reg.get("shift_from_global_mm")),
                    status,
                    ", ".join(d.qa.get("flags", [])),
                )
            )
        fill(self.disc_table, DISC_HEADERS, rows)
        t2_rows = []
        b_table = base.session.table if base is not None else None
        f_table = fu.session.table
        if f_table is not None:
            for rec in f_table.to_dict("records"):
                if rec["roi"] not in (*ROI_NAMES, "NP", "AF", "disc"):
                    continue
                b = None
                if b_table is not None:
                    match = b_table[(b_table.level == rec["level"]) & (b_table.roi == rec["roi"])]
                    b = match.iloc[0] if len(match) else None
                t2_rows.append(
                    (
                        rec["level"],
                        rec["roi"],
                        format_ms(float(b["t2_mean_ms"])) if b is not None else "–",
                        format_ms(float(rec["t2_mean_ms"])),
                        int(b["n_voxels"]) if b is not None else "–",
                        int(rec["n_voxels"]),
                    )
                )
        fill(self.t2_table, T2_HEADERS, t2_rows)


def _num(value: Any) -> str:
    return "–" if value is None else f"{float(value):.3g}"
