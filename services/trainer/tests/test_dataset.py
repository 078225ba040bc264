"""Dataset formation on synthetic processed data."""

import json
import os

import cv2
import numpy as np
import pytest
import yaml

from azaion_shared.labels import Box, format_labels
from azaion_shared.paths import OUTPUT_SCHEME, CompletionMarker, DataRoot, variant_stem
from trainer.classes import HEAD_SIZE, load_classes
from trainer.dataset import SPLITS, SplitRatios, form_dataset, split_of

CLASSES = load_classes()


def jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    ok, data = cv2.imencode(".jpg", rng.integers(0, 255, (32, 48, 3), dtype=np.uint8))
    assert ok
    return data.tobytes()


def add_processed(root: DataRoot, name: str, variants=range(1, 8), boxes=None, label_text=None) -> None:
    root.processed.ensure()
    root.processed.ensure()
    boxes = boxes if boxes is not None else [Box(1, 0.5, 0.5, 0.2, 0.2)]
    for stem in [name] + [variant_stem(name, v) for v in variants]:
        root.processed.image(stem).write_bytes(jpeg(hash(stem) % 1000))
        root.processed.label(stem).write_text(label_text if label_text is not None else format_labels(boxes))
    marker = CompletionMarker(name=name, variants=tuple(variants), scheme=OUTPUT_SCHEME)
    root.processed.marker_path(name).write_text(marker.to_json())


def files(dataset_dir, split):
    return sorted(p.stem for p in (dataset_dir / split / "images").glob("*.jpg"))


@pytest.fixture
def root(tmp_path):
    return DataRoot(tmp_path).ensure()


def test_groups_stay_together_and_eval_takes_originals(root):
    for i in range(60):
        add_processed(root, f"img-{i:03d}")
    result = form_dataset(root, "r1", CLASSES, seed=1)
    train, valid, test = (files(result.path, s) for s in SPLITS)
    originals = {s: {n.split("+")[0] for n in f} for s, f in zip(SPLITS, (train, valid, test), strict=True)}
    assert not (originals["train"] & originals["valid"]) and not (originals["train"] & originals["test"])
    assert not (originals["valid"] & originals["test"])
    assert all("+" not in n for n in valid + test)  # originals only
    assert len(train) == 8 * len(originals["train"])
    assert result.counts == {"train": len(train), "valid": len(valid), "test": len(test)}
    assert 30 < len(originals["train"]) < 55  # about 70 %


def test_deterministic_and_stable_as_data_grows(root):
    for i in range(40):
        add_processed(root, f"img-{i:03d}")
    first = {s: files(form_dataset(root, "a", CLASSES, seed=5).path, s) for s in SPLITS}
    again = {s: files(form_dataset(root, "b", CLASSES, seed=5).path, s) for s in SPLITS}
    assert first == again
    for i in range(40, 80):
        add_processed(root, f"img-{i:03d}")
    grown = {s: set(files(form_dataset(root, "c", CLASSES, seed=5).path, s)) for s in SPLITS}
    for split in SPLITS:
        assert set(first[split]) <= grown[split]  # nobody moved
    other_seed = {s: files(form_dataset(root, "d", CLASSES, seed=6).path, s) for s in SPLITS}
    assert other_seed != first


def test_split_ratios_checked():
    with pytest.raises(Exception, match="sum to 1"):
        SplitRatios(0.5, 0.2, 0.2)
    assert split_of("x", 0, SplitRatios(1.0, 0.0, 0.0)) == "train"


@pytest.mark.parametrize(
    ("label", "reason"),
    [
        ("1 1.5 0.5 0.1 0.1\n", "outside 0..1"),
        ("1 0.5 0.5 0.1\n", "expected 5 columns"),
        ("42 0.5 0.5 0.1 0.1\n", "not in the classes file"),
        ("x 0.5 0.5 0.1 0.1\n", "not an integer"),
    ],
)
def test_bad_labels_are_quarantined_with_their_reason(root, label, reason):
    add_processed(root, "good", variants=[1])
    add_processed(root, "bad", variants=[1])
    root.processed.label("bad+1").write_text(label)
    result = form_dataset(root, "r", CLASSES, seed=0, ratios=SplitRatios(1.0, 0.0, 0.0))
    assert [name for name, _ in result.corrupted] == ["bad+1"]
    assert reason in result.corrupted[0][1]
    assert root.corrupted.image("bad+1").exists() and root.corrupted.label("bad+1").read_text() == label
    assert reason in (root.corrupted.path / "reasons" / "bad+1.txt").read_text()
    assert files(result.path, "train") == ["bad", "good", "good+1"]


def test_unreadable_image_quarantined(root):
    add_processed(root, "a", variants=[1, 2])
    root.processed.image("a+2").write_bytes(jpeg(1)[:-50])  # truncated
    result = form_dataset(root, "r", CLASSES, ratios=SplitRatios(1.0, 0.0, 0.0))
    assert [n for n, _ in result.corrupted] == ["a+2"] and "JPEG" in result.corrupted[0][1]


def test_80_names_hard_links_histogram_manifest(root):
    for i in range(10):
        add_processed(root, f"img-{i}", boxes=[Box(3, 0.5, 0.5, 0.2, 0.2), Box(0, 0.3, 0.3, 0.1, 0.1)])
    result = form_dataset(root, "r", CLASSES, ratios=SplitRatios(1.0, 0.0, 0.0))
    data = yaml.safe_load(result.data_yaml.read_text())
    assert data["nc"] == HEAD_SIZE and len(data["names"]) == 80
    assert data["names"][3] == "bus" and data["names"][79] == "unused_79"
    linked = result.path / "train" / "images" / "img-0.jpg"
    assert os.stat(linked).st_ino == os.stat(root.processed.image("img-0")).st_ino
    assert result.histogram["train"] == {0: 80, 3: 80}
    manifest = json.loads((result.path / "manifest.json").read_text())
    assert manifest["counts"]["train"] == 80 and len(manifest["hash"]) == 64
    assert "bus" in (result.path / "histogram.txt").read_text()


def test_incomplete_annotations_are_not_used(root):
    add_processed(root, "done")
    add_processed(root, "half")
    root.processed.marker_path("half").unlink()  # the augmentor was interrupted
    result = form_dataset(root, "r", CLASSES, ratios=SplitRatios(1.0, 0.0, 0.0))
    assert all(not n.startswith("half") for n in files(result.path, "train"))


def test_no_data_is_a_clear_error(root):
    with pytest.raises(Exception, match="run the augmentor first"):
        form_dataset(root, "r", CLASSES)


def test_ultralytics_accepts_the_dataset(root):
    from ultralytics.data.dataset import YOLODataset

    for i in range(12):
        add_processed(root, f"img-{i}")
    result = form_dataset(root, "r", CLASSES, ratios=SplitRatios(0.5, 0.5, 0.0))
    data = yaml.safe_load(result.data_yaml.read_text())
    for split in ("train", "valid"):
        dataset = YOLODataset(img_path=str(result.path / split / "images"), data=data, imgsz=64, augment=False)
        cache = dataset.cache_labels(result.path / split / "check.cache")
        found, missing, _empty, corrupt, total = cache["results"]
        assert corrupt == 0 and missing == 0 and found == total == result.counts[split]


def test_few_originals_still_give_train_and_valid(tmp_path):
    from trainer.dataset import SplitRatios, _never_empty

    assigned = {"a": "train", "b": "train", "c": "test"}
    _never_empty(assigned, SplitRatios())
    assert sorted(assigned.values()) == ["test", "train", "valid"]
    lonely = {"a": "valid", "b": "valid"}
    _never_empty(lonely, SplitRatios())
    assert sorted(lonely.values()) == ["train", "valid"]
    single = {"a": "test"}
    _never_empty(single, SplitRatios())
    assert single == {"a": "test"}  # one original cannot fill two splits


def test_reforming_builds_aside_and_swaps_whole(root, monkeypatch):
    """A dataset is built under an owned temporary name and renamed into place: the run's folder is
    the old dataset or the new one, never half of either, and nothing temporary is left."""
    from trainer import dataset

    for i in range(12):
        add_processed(root, f"img-{i:03d}")
    first = form_dataset(root, "r1", CLASSES, seed=1)
    before = {s: files(first.path, s) for s in SPLITS}
    seen_during_build = []
    real_build = dataset._build

    def watching_build(*args):
        seen_during_build.append({s: files(first.path, s) for s in SPLITS})  # the old one, whole
        return real_build(*args)

    monkeypatch.setattr(dataset, "_build", watching_build)
    for i in range(12, 20):
        add_processed(root, f"img-{i:03d}")
    second = form_dataset(root, "r1", CLASSES, seed=1)
    assert seen_during_build == [before]
    assert sum(second.counts.values()) > sum(first.counts.values())
    assert yaml.safe_load((second.path / "data.yaml").read_text())["path"] == str(second.path)
    assert sorted(p.name for p in root.datasets.iterdir()) == ["r1"]


def test_a_failed_build_leaves_no_temporary_folder(root):
    from trainer.errors import DatasetError

    add_processed(root, "only", label_text="not a label\n")  # corrupt: nothing left to train on
    with pytest.raises(DatasetError):
        form_dataset(root, "r1", CLASSES, seed=1)
    assert list(root.datasets.iterdir()) == []
