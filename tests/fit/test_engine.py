"""The chunked threaded engine, with a stand-in kernel."""

import threading

import numpy as np
import pytest

from discT2.fit._engine import default_workers, run_chunks


def _copy_kernel(log):
    def fit_block(y, mask, outs):
        log.append((threading.current_thread().name, y.shape, y.dtype, y.flags.c_contiguous))
        outs[0][:] = np.where(mask, y.sum(axis=1), np.nan)

    return fit_block


@pytest.mark.parametrize("workers", [1, 3])
def test_every_voxel_once_with_selected_echoes(workers):
    data = np.arange(50 * 6, dtype=np.int32).reshape(50, 6)
    mask = np.ones(50, bool)
    mask[::7] = False
    out = np.full(50, -1.0)
    log = []
    run_chunks(
        _copy_kernel(log), data, np.array([1, 3]), mask, (out,), chunk_size=8, workers=workers
    )
    expected = np.where(mask, data[:, 1] + data[:, 3], np.nan)
    np.testing.assert_array_equal(out, expected)
    assert all(shape[1] == 2 and dtype == np.float32 and contig for _, shape, dtype, contig in log)
    assert sum(shape[0] for _, shape, _, _ in log) == 50
    if workers > 1:
        assert all(name.startswith("discT2-fit") for name, *_ in log)


def test_default_workers_is_positive():
    assert default_workers() >= 1
