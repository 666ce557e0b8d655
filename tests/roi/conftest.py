"""Test data shared by the ROI tests: small synthetic spines for exact geometry, and the
discT2 phantom (the committed sample study and generated exams) for the image algorithms."""

import importlib.util
import sys
from pathlib import Path

import pytest


def _helper(stem):
    """A helper module beside the tests (they are imported with importlib, not as a package)."""
    name = f"discT2_tests{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{stem}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def load_synthetic():
    """The ``_synthetic`` helper module."""
    return _helper("_synthetic")


def load_phantom():
    """The ``_phantom`` helper module (sample study and generated exams with their truth)."""
    return _helper("_phantom")


@pytest.fixture(scope="session")
def syn():
    return load_synthetic()


@pytest.fixture(scope="session")
def ph():
    return load_phantom()


@pytest.fixture(scope="session")
def band_exam(syn):
    """Noise-free exam whose T2 map is constant per true band (exact ROI means)."""
    shape = (150, 160, 3)
    affine = syn.sagittal_affine(shape=shape, pixel_mm=(1.5, 1.4), in_plane=("A+", "S-"))
    return syn.make_exam(shape=shape, affine=affine, supersample=1, t2_layout="bands")


@pytest.fixture(scope="session")
def noisy_exam(syn):
    """Echo images with Rician noise, dark cortical endplates, one degenerated disc."""
    shape = (170, 180, 3)
    affine = syn.sagittal_affine(shape=shape, pixel_mm=(1.3, 1.2), in_plane=("S-", "A+"))
    spine = syn.make_spine(cortex_mm=0.8, degenerated=("L4-L5",))
    return syn.make_exam(
        spine, shape=shape, affine=affine, sigma=0.02, supersample=3, t2_noise_ms=3.0
    )
