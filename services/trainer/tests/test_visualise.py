from __future__ import annotations

import cv2
import numpy as np
import pytest

from azaion_shared.paths import DataRoot
from trainer.__main__ import main
from trainer.errors import DatasetError
from trainer.visualise import pairs, render


def make_pairs(folder, count):
    pair = DataRoot(folder).data.ensure()
    for i in range(count):
        image = np.full((60, 80, 3), 40 * i % 255, np.uint8)
        cv2.imwrite(str(pair.image(f"img{i}")), image)
        pair.label(f"img{i}").write_text("0 0.5 0.5 0.5 0.5\n3 0.25 0.25 0.2 0.2\n")
    return pair


def test_grid_of_a_data_root_folder_with_boxes_drawn(tmp_path):
    pair = make_pairs(tmp_path, 6)
    out, drawn = render(pair.path, tmp_path / "grid.png", {0: "person", 3: "bus"}, count=4, columns=2, width=160)
    assert drawn == 4
    sheet = cv2.imread(str(out))
    assert sheet.shape[1] == 2 * 160 and sheet.shape[0] >= 2 * (28 + 120)
    # the box colour of class 0 appears on the (otherwise grey) tiles
    assert (np.abs(sheet.astype(int) - (56, 56, 255)).sum(axis=2) < 10).any()


def test_ultralytics_layout_and_bad_labels_are_shown_not_fatal(tmp_path):
    images, labels = tmp_path / "images" / "train", tmp_path / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    cv2.imwrite(str(images / "a.jpg"), np.zeros((40, 40, 3), np.uint8))
    (labels / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    cv2.imwrite(str(images / "b.jpg"), np.zeros((40, 40, 3), np.uint8))
    (labels / "b.txt").write_text("not a label\n")
    assert [label for _, label in pairs(images)] == [labels / "a.txt", labels / "b.txt"]
    _, drawn = render(images, tmp_path / "g.png", {0: "person"})
    assert drawn == 2


def test_cli_and_clear_errors(tmp_path, capsys):
    pair = make_pairs(tmp_path, 2)
    assert main(["visualise", str(pair.path), "--out", str(tmp_path / "cli.png")]) == 0
    assert (tmp_path / "cli.png").exists() and "2 images" in capsys.readouterr().out
    assert main(["visualise", str(tmp_path / "missing")]) == 2
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        render(tmp_path / "empty", tmp_path / "x.png", {})
    with pytest.raises(DatasetError, match="headless"):
        render(pair.path, tmp_path / "y.png", {}, show=True)
