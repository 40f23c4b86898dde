"""sampleGrid layout: cells keep the images' aspect ratio and pack tightly at any widget size."""

from __future__ import annotations

import numpy as np
import pytest

from cdvae_studio.widgets.sample_grid import MARGIN, SPACING, SampleGrid, grid_layout


@pytest.fixture()
def grid(qtbot):
    """A bare grid; deleted, not closed (pyqtgraph's GraphicsView.close crashes under pytest-qt)."""
    grid = SampleGrid()
    yield grid
    grid.hide()
    grid.deleteLater()


@pytest.mark.parametrize(("size", "columns"), [((660, 880), 3), ((1400, 500), 6), ((300, 1200), 2)])
def test_cells_keep_aspect_and_pack_tightly(grid, size, columns):
    grid.resize(*size)
    grid.show()
    grid.set_images(np.zeros((16, 100, 150, 3), np.uint8))  # (n, h, w, 3): cells 3:2
    assert grid.columns == columns
    rects = [grid.cell_rect(i) for i in range(grid.count)]
    cell_w, cell_h = rects[0].width(), rects[0].height()
    for r in rects:
        assert r.width() == cell_w and r.height() == cell_h
        assert abs(cell_h / cell_w - 100 / 150) < 1e-6
        assert r.left() >= MARGIN - 1e-6 and r.right() <= size[0] - MARGIN + 1e-6
        assert r.top() >= MARGIN - 1e-6 and r.bottom() <= size[1] - MARGIN + 1e-6
    tops = sorted({round(r.top(), 3) for r in rects})
    assert tops[0] == MARGIN  # rows from the top
    assert np.allclose(np.diff(tops), cell_h + SPACING)  # no gaps between rows
    lefts = sorted({round(r.left(), 3) for r in rects})
    assert abs(lefts[0] - (size[0] - lefts[-1] - cell_w)) < 1  # columns centred


def test_grid_layout_prefers_full_rows_among_equal_cells():
    assert grid_layout(16, 660, 660, 0.66) == (4, 161)  # 3 columns would be as large, with 2 empty places
    assert grid_layout(16, 10, 10, 1.0)[1] == 1  # never below one pixel
