"""Chunked, multi-threaded execution of a per-voxel kernel over a volume.

The volume is viewed as ``(N, E)`` (no copy) and cut into runs of ``chunk_size`` consecutive
voxels. Each chunk's used echoes are gathered into a small float32 block, the kernel writes
straight into views of the flat output arrays, and nothing else of volume size is allocated, so
the working memory is ``workers x chunk_size x E`` however large the volume.

The kernels are compiled with ``nogil=True``, so plain Python threads run them in parallel.
Threads (rather than numba's ``parallel=True``) keep the thread count per call (``workers``),
let a GUI call a fit from its own worker thread while another fit runs, and report progress
after every chunk.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

import numpy as np

#: Kernel adapter: fills the output views for one block ``(y, mask, outs)``.
BlockFitter = Callable[[np.ndarray, np.ndarray, tuple[np.ndarray, ...]], None]
Progress = Callable[[int, int], object]


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def run_chunks(
    fit_block: BlockFitter,
    data: np.ndarray,
    echo_index: np.ndarray | None,
    mask: np.ndarray | None,
    outs: tuple[np.ndarray, ...],
    *,
    chunk_size: int,
    workers: int,
    progress: Progress | None = None,
) -> None:
    """Fit all voxels of ``data`` chunk by chunk.

    Parameters
    ----------
    fit_block : callable
        ``fit_block(y, mask, outs)`` with ``y`` (n, E_used) float32 C-contiguous, ``mask`` (n,)
        bool and ``outs`` the views ``out[start:stop]`` of every output.
    data : ndarray, shape (N, E)
        Signal of every voxel and echo (a view of the volume; any real dtype).
    echo_index : ndarray of int or None
        Echoes to use (None: all).
    mask : ndarray of bool, shape (N,), or None
        Voxels to fit; the kernel marks the others ``MASKED``. None: all (no volume-sized mask
        is made).
    outs : tuple of ndarray, each shape (N,)
        Flat outputs.
    chunk_size, workers : int
        Voxels per chunk; threads.
    progress : callable, optional
        ``progress(done, total)`` in fitted (in-mask) voxels, called from this thread after every
        chunk. An exception it raises stops the fit (pending chunks are cancelled) and propagates.
    """
    n = data.shape[0]
    total = n if mask is None else int(np.count_nonzero(mask))
    starts = range(0, n, chunk_size)

    def task(start: int) -> int:
        stop = min(start + chunk_size, n)
        block = data[start:stop]
        if echo_index is not None:
            block = block[:, echo_index]
        block = np.ascontiguousarray(block, dtype=np.float32)
        sub_mask = np.ones(stop - start, dtype=bool) if mask is None else mask[start:stop]
        fit_block(block, sub_mask, tuple(o[start:stop] for o in outs))
        return int(np.count_nonzero(sub_mask))

    done = 0
    if progress is not None:
        progress(0, total)
    if workers <= 1 or n <= chunk_size:
        for start in starts:
            done += task(start)
            if progress is not None:
                progress(done, total)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="discT2-fit") as pool:
        # keep at most 2 chunks per worker in flight: bounded memory, prompt cancellation
        pending: set = set()
        queue = iter(starts)
        try:
            for start in queue:
                pending.add(pool.submit(task, start))
                if len(pending) >= 2 * workers:
                    finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        done += fut.result()
                        if progress is not None:
                            progress(done, total)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    done += fut.result()
                    if progress is not None:
                        progress(done, total)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
