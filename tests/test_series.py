import numpy as np
import pytest

from discT2 import EchoTimeError, GeometryError, InputError, MultiEchoSeries, ShapeMismatchError
from discT2.series import orientation_name

TE = np.array([10.0, 20.0, 30.0, 40.0])


def _sagittal_affine():
    # i -> posterior (RAS -y), j -> inferior (-z), k -> patient left (+x): a sagittal stack
    return np.array(
        [[0.0, 0.0, 4.0, -8.0], [-0.8, 0.0, 0.0, 60.0], [0.0, -0.8, 0.0, 90.0], [0, 0, 0, 1.0]]
    )


def test_valid_series_properties():
    s = MultiEchoSeries(np.ones((5, 6, 3, 4), dtype=np.uint16), TE, _sagittal_affine(), {"a": 1})
    assert s.data.dtype == np.float32
    assert s.shape == (5, 6, 3)
    assert s.n_echoes == 4
    np.testing.assert_allclose(s.voxel_size_mm, [0.8, 0.8, 4.0])
    assert s.orientation == "sagittal"
    assert s.echo_spacing_ms == 10.0
    assert not s.data.flags.writeable


def test_world_voxel_round_trip():
    s = MultiEchoSeries(np.ones((5, 6, 3, 4)), TE, _sagittal_affine())
    ijk = np.array([[1.0, 2.0, 0.5], [4.0, 0.0, 2.0]])
    np.testing.assert_allclose(s.world_to_voxel(s.voxel_to_world(ijk)), ijk)
    np.testing.assert_allclose(s.voxel_to_world([0, 0, 0]), [-8.0, 60.0, 90.0])


def test_select_echoes_records_source_indices():
    data = np.arange(2 * 2 * 1 * 4, dtype=float).reshape(2, 2, 1, 4)
    s = MultiEchoSeries(data, TE, np.eye(4)).select_echoes(slice(1, None))
    np.testing.assert_array_equal(s.echo_times_ms, [20.0, 30.0, 40.0])
    np.testing.assert_array_equal(s.data[..., 0], data[..., 1])
    assert s.meta["echo_indices_from_source"] == [1, 2, 3]
    assert s.select_echoes([0, 2]).meta["echo_indices_from_source"] == [1, 3]
    assert s.echo_spacing_ms is None  # starts at 20 ms, spacing 10 ms


@pytest.mark.parametrize(
    ("data", "te", "affine", "error", "match"),
    [
        (np.ones((2, 2, 4)), TE, np.eye(4), ShapeMismatchError, "4-D"),
        (np.ones((2, 2, 1, 3)), TE, np.eye(4), ShapeMismatchError, "3 echoes"),
        (np.ones((2, 2, 1, 1)), [10.0], np.eye(4), EchoTimeError, "at least 2"),
        (np.ones((2, 2, 1, 4)), [10, 20, 20, 30], np.eye(4), EchoTimeError, "strictly increasing"),
        (np.ones((2, 2, 1, 4)), [0, 10, 20, 30], np.eye(4), EchoTimeError, "positive"),
        (np.ones((2, 2, 1, 4)), TE, np.zeros((4, 4)), GeometryError, "last row"),
        (np.ones((2, 2, 1, 4)), TE, np.diag([1, 0, 1, 1.0]), GeometryError, "singular"),
        (np.ones((2, 2, 1, 4)), TE, np.eye(3), GeometryError, "4x4"),
        (np.ones((2, 2, 1, 4), dtype=complex), TE, np.eye(4), InputError, "real"),
    ],
)
def test_refuses_invalid_input(data, te, affine, error, match):
    with pytest.raises(error, match=match):
        MultiEchoSeries(data, te, affine)


@pytest.mark.parametrize(
    ("affine", "name"),
    [
        (np.diag([1.0, 1, 3, 1]), "axial"),
        (np.array([[1.0, 0, 0, 0], [0, 0, 3, 0], [0, 1, 0, 0], [0, 0, 0, 1]]), "coronal"),
        (_sagittal_affine(), "sagittal"),
    ],
)
def test_orientation_names(affine, name):
    assert orientation_name(affine) == name


def test_oblique_beyond_tolerance():
    angle = np.radians(25)
    rot = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rot
    assert orientation_name(affine) == "oblique"
    assert orientation_name(affine, tolerance_deg=30) == "axial"
