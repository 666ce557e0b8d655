"""Access to the bundled synthetic sample study.

The study lives in ``sample_data/`` at the top of the source repository (outside the package, so
that the wheel stays small). :func:`sample_study` finds it in this order:

1. the folder named by the environment variable ``DISCT2_SAMPLE_DATA``;
2. ``sample_data/`` of the source checkout this package is imported from (``pip install -e``
   or ``PYTHONPATH=src``);
3. a copy in the user cache (``$XDG_CACHE_HOME/discT2`` or ``~/.cache/discT2``), which is
   generated on first use by the same code and seed that made the committed one
   (``discT2 simulate sample_data --preset sample``), so an installed ``discT2 demo`` works without
   the repository. A test keeps the committed study identical to what the code generates.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from discT2._version import __version__
from discT2.errors import InputError

__all__ = ["SAMPLE_COMMAND", "sample_study"]

logger = logging.getLogger(__name__)

#: The command that makes the bundled study.
SAMPLE_COMMAND = "discT2 simulate sample_data --preset sample"
_CHECKOUT = Path(__file__).resolve().parents[3] / "sample_data"


def sample_study(*, regenerate: bool = False) -> Path:
    """Folder of the bundled synthetic study (it holds ``study.csv``, ``arms.csv``,
    ``truth.csv`` and the exams).

    Parameters
    ----------
    regenerate : bool
        Generate a fresh copy in the user cache even if one exists (takes tens of seconds).

    Returns
    -------
    Path

    Raises
    ------
    InputError
        ``DISCT2_SAMPLE_DATA`` names a folder without a ``study.csv``.
    """
    env = os.environ.get("DISCT2_SAMPLE_DATA")
    if env:
        folder = Path(env)
        if not (folder / "study.csv").is_file():
            raise InputError(
                f"DISCT2_SAMPLE_DATA={env}: no study.csv there; point it at a study folder "
                f"(made with '{SAMPLE_COMMAND}') or unset it"
            )
        return folder
    if not regenerate and (_CHECKOUT / "study.csv").is_file():
        return _CHECKOUT
    cache = _cache_dir() / f"sample_data-{__version__}"
    if regenerate or not (cache / "study.csv").is_file():
        _generate(cache)
    return cache


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "discT2"


def _generate(folder: Path) -> None:
    from discT2.phantom.study import make_study, preset_plan

    logger.info("generating the sample study in %s (once; takes tens of seconds)", folder)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    make_study(tmp, preset_plan("sample"), command=SAMPLE_COMMAND)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
