import json

import numpy as np
from _helpers import open_sample
from napari_disct2._exam import role_of

from discT2 import fit_t2, load_series


def test_the_sample_is_the_first_exam_of_the_bundled_study_fitted(make_napari_viewer):
    from napari_disct2._sample_data import sample_paths

    viewer = make_napari_viewer()
    exam = open_sample(viewer)
    subject, visit, folder = sample_paths()[0]
    assert (subject, visit) == ("S01", "baseline")
    assert [role_of(layer) for layer in viewer.layers] == ["echoes", "t2", "s0", "t2_sd"]
    series = load_series(folder)
    expected = fit_t2(series)
    np.testing.assert_array_equal(viewer.layers[1].data, exam.frame.to_display(expected.t2_ms))
    np.testing.assert_array_equal(exam.t2map.t2_ms, expected.t2_ms)
    assert exam.name == "S01 baseline"
    # Blinded: nothing about treatment arms travels with the sample.
    for layer in viewer.layers:
        text = json.dumps({k: v for k, v in layer.metadata.items() if k != "discT2"}, default=str)
        assert "arm" not in text.lower().replace("warm", "")
    follow = open_sample(viewer, "followup")
    assert follow.name == "S01 m12" and follow is not exam
