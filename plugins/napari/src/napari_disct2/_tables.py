"""Qt tables of the widgets: ROI statistics and disc status, filled from discT2's results."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

__all__ = ["StatsTable", "fill", "format_ms"]


def format_ms(value: float) -> str:
    """A T2 value in ms as the tables show it (one decimal; '–' for no value)."""
    return "–" if value is None or not math.isfinite(value) else f"{value:.1f}"


def fill(table: QTableWidget, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Replace a table's content (read-only cells, text as given)."""
    table.clear()
    table.setColumnCount(len(headers))
    table.setHorizontalHeaderLabels(list(headers))
    table.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            item = QTableWidgetItem(str(value))
            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEditable)
            if c >= 2:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            table.setItem(r, c, item)


def cell_texts(table: QTableWidget) -> list[list[str]]:
    """Every cell's text, row by row (what the reader sees)."""
    return [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())
    ]


class StatsTable(QTableWidget):
    """A compact read-only table."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setMinimumHeight(160)

    def texts(self) -> list[list[str]]:
        """Every cell's text, row by row."""
        return cell_texts(self)
