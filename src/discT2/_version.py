"""Single source of the package version."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("discT2")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.1.0+unknown"
