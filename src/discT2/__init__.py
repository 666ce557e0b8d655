"""discT2: quantitative T2 mapping of lumbar intervertebral discs.

Multi-echo spin-echo DICOM or NIfTI in; T2 maps, the five disc ROIs (anterior annulus, three
nucleus, posterior annulus), % of baseline, treated-vs-control and per-arm trial tables out.
"""

# The public names are listed in __init__.pyi and imported on first use (numba, pandas, pydicom
# and scipy take seconds to import; `discT2 --help` and `import discT2` should not wait for them).
# ``from discT2 import fit_t2`` and ``discT2.fit_t2`` work as with eager imports.
import lazy_loader as _lazy

from discT2._version import __version__ as __version__

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
