import subprocess
import sys

import cv2
import numpy as np

from azaion_shared.labels import Box, format_labels


def test_contact_sheet_command(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    image = np.full((240, 320, 3), 90, np.uint8)
    cv2.imwrite(str(images / "a.jpg"), image)
    (labels / "a.txt").write_text(format_labels([Box(1, 0.5, 0.5, 0.4, 0.4)]))
    out = tmp_path / "sheet.png"
    done = subprocess.run(
        [sys.executable, "-m", "augmentor", "contact-sheet", str(images / "a.jpg"), "--out", str(out)],
        capture_output=True,
        text=True,
        env={"AZAION_ENV": "development", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[1] == 4 * 480 and sheet.shape[0] > 2 * 300
    # The boxes are drawn: the box colour of class 1 appears in the sheet.
    assert (np.abs(sheet.astype(int) - np.array([151, 157, 255])).sum(axis=2) < 10).sum() > 100
