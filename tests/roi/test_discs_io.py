import json

import numpy as np
import pytest

from discT2 import DiscGeometry, RoiError, load_discs, save_discs


def _disc(level="L4-L5", **kw):
    corners = {"AS": [0, 20, 5], "PS": [0, -20, 4], "AI": [0, 20, -6], "PI": [0, -20, -4]}
    return DiscGeometry(level, corners_ras_mm=corners, **kw)


def test_round_trip(tmp_path):
    discs = [
        _disc(pfirrmann=2, reader="reader A", slice=4),
        DiscGeometry("L5-S1", center_ras_mm=[1.5, -3.0, -40.25]),
        DiscGeometry("L3-L4", outline_ras_mm=[[0, 0, 0], [0, 10, 0], [0, 10, 5]]),
    ]
    path = save_discs(discs, tmp_path / "sub" / "discs.json")
    doc = json.loads(path.read_text())
    assert [d["level"] for d in doc["discs"]] == ["L4-L5", "L5-S1", "L3-L4"]
    assert doc["discs"][0]["corners_ras_mm"]["AS"] == [0.0, 20.0, 5.0]
    assert doc["discs"][1]["center_ras_mm"] == [1.5, -3.0, -40.25]
    assert doc["discs"][0]["method"] == "drawn" and doc["discs"][0]["reader"] == "reader A"
    back = load_discs(path)
    assert [d.level for d in back] == ["L4-L5", "L5-S1", "L3-L4"]
    assert back[0].pfirrmann == 2 and back[0].slice == 4
    np.testing.assert_allclose(back[0].corner_array(), discs[0].corner_array())
    assert back[1].corners_ras_mm is None and back[2].outline_ras_mm.shape == (3, 3)
    assert load_discs(tmp_path / "sub")[0].level == "L4-L5"  # the folder works too


def test_minimal_file_as_design_shows(tmp_path):
    path = tmp_path / "discs.json"
    path.write_text(
        '{"discs": [{"level": "L4-L5", "corners_ras_mm": {"AS": [1, 2, 3], "PS": [1, -30, 2], '
        '"AI": [1, 2, -8], "PI": [1, -30, -6]}}]}'
    )
    (disc,) = load_discs(path)
    assert disc.method == "drawn" and disc.reader == "" and disc.pfirrmann is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not readable JSON"),
        ('{"disks": []}', 'expected {"discs": \\[...\\]}'),
        ('{"discs": [3]}', "disc 1: each disc must be a JSON object"),
        ('{"discs": [{"level": "L4-L5"}]}', "disc 1: disc L4-L5: give corners_ras_mm"),
        (
            '{"discs": [{"level": "L4-L5", "center_ras_mm": [0, 0, 0]}, '
            '{"level": "L4/5", "center_ras_mm": [0, 0, 1]}]}',
            "L4-L5 given more than once",
        ),
    ],
)
def test_bad_files_name_the_file(tmp_path, content, message):
    path = tmp_path / "discs.json"
    path.write_text(content)
    with pytest.raises(RoiError, match=f"{path}.*{message}"):
        load_discs(path)


def test_missing_file(tmp_path):
    with pytest.raises(RoiError, match="no such discs file"):
        load_discs(tmp_path / "nope.json")
    with pytest.raises(RoiError, match=r"no discs\.json or rois\.json"):
        load_discs(tmp_path)
