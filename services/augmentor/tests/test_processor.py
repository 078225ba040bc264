"""The processor on its own: box correctness, failure isolation, idempotence, propagation, crashes."""

import dataclasses
import json
import os

import cv2
import numpy as np
import pytest

from augmentor import processor as processor_module
from augmentor.processor import Processor
from augmentor.settings import AugmentorOptions
from augmentor.transforms import VARIANT_NAMES
from azaion_shared.labels import Box, format_labels, read_labels
from azaion_shared.paths import DataRoot, variant_stem

HFLIP, AFFINE = 1, 2
PHOTOMETRIC = [3, 4, 5, 6, 7]


def write_source(root: DataRoot, name: str, image: np.ndarray, boxes: list[Box]) -> None:
    root.data.ensure()
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    root.data.image(name).write_bytes(encoded.tobytes())
    root.data.label(name).write_text(format_labels(boxes))


def textured(h=240, w=320, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (9, 9), 0)


@pytest.fixture
def root(tmp_path):
    return DataRoot(tmp_path).ensure()


@pytest.fixture
def processor(root):
    return Processor(root, AugmentorOptions(workers=1)).ensure()


def outputs(root: DataRoot, name: str) -> dict[str, bytes]:
    names = [name] + [variant_stem(name, i) for i in range(1, 8)]
    files = {}
    for n in names:
        for path in (root.processed.image(n), root.processed.label(n)):
            if path.exists():
                files[path.name] = path.read_bytes()
    return files


def test_original_and_seven_variants_with_correct_boxes(root, processor):
    boxes = [Box(3, 0.25, 0.5, 0.2, 0.3), Box(7, 0.7, 0.3, 0.1, 0.1), Box(1, 0.97, 0.5, 0.1, 0.2)]  # last spills over
    write_source(root, "a", textured(), boxes)
    result = processor.process("a")
    assert result.status == "processed" and result.variants == 7
    assert len(outputs(root, "a")) == 16
    assert root.processed.image("a").read_bytes() == root.data.image("a").read_bytes()  # the original as it was
    original = read_labels(root.processed.label("a"))
    assert original[2].corners()[2] == pytest.approx(1.0)  # clipped to the image
    for index in range(1, 8):
        labels = read_labels(root.processed.label(f"a+{index}"))  # parsing validates 0..1
        for box in labels:
            x1, y1, x2, y2 = box.corners()
            assert -1e-6 <= x1 <= x2 <= 1 + 1e-6 and -1e-6 <= y1 <= y2 <= 1 + 1e-6
        if index == HFLIP:
            assert [(b.class_id, b.cy, b.w, b.h) for b in labels] == [(b.class_id, b.cy, b.w, b.h) for b in original]
            for before, after in zip(original, labels, strict=True):
                assert after.cx == pytest.approx(1 - before.cx, abs=1e-6)
        if index in PHOTOMETRIC:
            assert labels == original  # the boxes do not move
        image = cv2.imread(str(root.processed.image(f"a+{index}")))
        assert image.shape == (240, 320, 3)
    marker = json.loads(root.processed.marker_path("a").read_text())
    assert marker["variants"] == [1, 2, 3, 4, 5, 6, 7]


def test_affine_boxes_follow_the_pixels(root, processor):
    image = np.zeros((300, 400, 3), np.uint8)
    box = Box(0, 0.5, 0.5, 0.3, 0.2)
    x1, y1, x2, y2 = box.corners()
    cv2.rectangle(
        image, (round(x1 * 400), round(y1 * 300)), (round(x2 * 400) - 1, round(y2 * 300) - 1), (255, 255, 255), -1
    )
    write_source(root, "rect", image, [box])
    for seed in range(5):  # several random affine draws
        processor.options = processor.options.model_copy(update={"seed": seed})
        root.processed.marker_path("rect").unlink(missing_ok=True)
        processor.config = f"seed-{seed}"
        assert processor.process("rect").status == "processed"
        out = cv2.imread(str(root.processed.image(f"rect+{AFFINE}")), cv2.IMREAD_GRAYSCALE)
        ys, xs = np.nonzero(out > 128)
        white = (xs.min() / 400, ys.min() / 300, (xs.max() + 1) / 400, (ys.max() + 1) / 300)
        (label,) = read_labels(root.processed.label(f"rect+{AFFINE}"))
        assert iou(label.corners(), white) > 0.85, (seed, label.corners(), white)


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_failing_variant_is_skipped_never_mislabelled(root, processor, monkeypatch):
    write_source(root, "a", textured(), [Box(0, 0.5, 0.5, 0.2, 0.2)])

    class Exploding:
        def set_random_seed(self, seed):
            return None

        def __call__(self, **kwargs):
            raise RuntimeError("transform exploded")

    processor.variants[3] = dataclasses.replace(processor.variants[3], pipeline=Exploding())
    result = processor.process("a")
    assert result.status == "processed" and result.variants == 6
    assert result.skipped_variants == [VARIANT_NAMES[3]]
    assert not root.processed.image("a+4").exists() and not root.processed.label("a+4").exists()
    assert len(outputs(root, "a")) == 14


def test_unreadable_image_is_set_aside_and_others_go_on(root, processor):
    root.data.ensure()
    root.data.image("bad").write_bytes(b"not a jpeg at all")
    write_source(root, "good", textured(), [])
    bad = processor.process("bad")
    assert bad.status == "failed" and "does not decode" in bad.reason
    assert outputs(root, "bad") == {}
    assert processor.process("bad").status == "skipped"  # not retried until it changes
    assert not processor.needs_work("bad")
    assert processor.process("good").status == "processed"
    root.data.label("good").write_text("0 1.5 0.5 0.1 0.1\n")  # a broken label: set aside with its line
    os.utime(root.data.label("good"), ns=(1, 10**18))
    result = processor.process("good")
    assert result.status == "failed" and "good.txt:1" in result.reason
    assert outputs(root, "good") == {}


def test_idempotent_and_deterministic(root, processor):
    write_source(root, "a", textured(), [Box(2, 0.4, 0.4, 0.2, 0.2)])
    processor.process("a")
    first = outputs(root, "a")
    assert processor.process("a").status == "skipped"
    root.processed.marker_path("a").unlink()
    assert processor.process("a").status == "processed"
    assert outputs(root, "a") == first  # same seed, same bytes


def test_edit_regenerates_and_delete_removes(root, processor):
    write_source(root, "a", textured(seed=1), [Box(2, 0.4, 0.4, 0.2, 0.2)])
    processor.process("a")
    before = outputs(root, "a")
    write_source(root, "a", textured(seed=2), [Box(5, 0.6, 0.6, 0.3, 0.3)])
    assert processor.needs_work("a")
    assert processor.process("a").status == "processed"
    after = outputs(root, "a")
    assert after["a+3.jpg"] != before["a+3.jpg"]
    assert read_labels(root.processed.label("a+3"))[0].class_id == 5
    root.data.image("a").unlink()
    root.data.label("a").unlink()
    assert processor.needs_work("a")
    assert processor.process("a").status == "removed"
    assert outputs(root, "a") == {} and not root.processed.marker_path("a").exists()


@pytest.mark.parametrize("where", ["while staging", "while renaming"])
def test_crash_midway_leaves_nothing_complete_and_a_rerun_finishes(root, processor, monkeypatch, where):
    write_source(root, "a", textured(), [Box(2, 0.4, 0.4, 0.2, 0.2)])
    processor.process("a")
    before = outputs(root, "a")
    write_source(root, "a", textured(seed=9), [Box(4, 0.5, 0.5, 0.3, 0.3)])  # an edit, then a crash redoing it
    real_stage, real_commit = processor_module.stage_bytes, processor_module.commit_staged
    calls = []

    def dying_stage(path, data):
        calls.append(path)
        if len(calls) == 6:
            raise KeyboardInterrupt("power cut")  # not an Exception: nothing catches it
        return real_stage(path, data)

    def dying_commit(staged):
        real_commit(staged[:5])  # five files renamed, then the power goes
        raise KeyboardInterrupt("power cut")

    if where == "while staging":
        monkeypatch.setattr(processor_module, "stage_bytes", dying_stage)
    else:
        monkeypatch.setattr(processor_module, "commit_staged", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        processor.process("a")
    assert not root.processed.marker_path("a").exists()  # nothing looks complete
    assert processor.needs_work("a")
    assert not list(root.processed.path.rglob("*.azaion-tmp"))
    monkeypatch.setattr(processor_module, "stage_bytes", real_stage)
    monkeypatch.setattr(processor_module, "commit_staged", real_commit)
    assert processor.process("a").status == "processed"
    after = outputs(root, "a")
    assert len(after) == 16 and after != before


def test_an_original_named_like_a_variant_is_not_removed(root, processor):
    write_source(root, "x", textured(seed=1), [])
    write_source(root, "x_1", textured(seed=2), [])  # an annotation that happens to be named like a variant
    processor.process("x_1")
    root.data.image("x").unlink()
    root.data.label("x").unlink()
    processor.process("x")
    assert root.processed.image("x_1").read_bytes() == root.data.image("x_1").read_bytes()


def test_changed_configuration_redoes_the_work(root, processor):
    write_source(root, "a", textured(), [])
    processor.process("a")
    other = Processor(root, AugmentorOptions(workers=1, seed=7)).ensure()
    assert other.needs_work("a")
    assert other.process("a").status == "processed"


def test_names_like_img_3_never_collide_with_a_variant(root, processor):
    """`img_3` is a common annotation name; variant 3 of `img` is `img+3` and cannot be it."""
    write_source(root, "img", textured(seed=1), [Box(0, 0.5, 0.5, 0.2, 0.2)])
    write_source(root, "img_3", textured(seed=2), [Box(4, 0.3, 0.3, 0.1, 0.1)])
    for name in ("img_3", "img", "img_3"):
        processor.process(name)
    assert root.processed.image("img_3").read_bytes() == root.data.image("img_3").read_bytes()
    assert read_labels(root.processed.label("img_3"))[0].class_id == 4
    assert len(outputs(root, "img")) == 16 and len(outputs(root, "img_3")) == 16
    assert not set(outputs(root, "img")) & set(outputs(root, "img_3"))


def legacy_outputs(root: DataRoot, name: str) -> None:
    """What the first naming scheme left: {name}_1 ... {name}_7 and a marker without a scheme."""
    root.processed.ensure()
    for stem in [name] + [f"{name}_{i}" for i in range(1, 8)]:
        root.processed.image(stem).write_bytes(root.data.image(name).read_bytes())
        root.processed.label(stem).write_text(root.data.label(name).read_text())
    legacy = {"name": name, "variants": list(range(1, 8)), "source": None, "config": "first-version"}
    root.processed.marker_path(name).write_text(json.dumps(legacy))


def readers_view(root: DataRoot) -> dict[str, list[str]]:
    """What a reader (the trainer) takes: the output names each completion marker stands for."""
    return {marker.name: marker.stems() for marker in root.processed.completed()}


def test_outputs_of_the_old_naming_are_usable_then_redone_and_removed(root, processor):
    write_source(root, "a", textured(seed=1), [Box(0, 0.5, 0.5, 0.2, 0.2)])
    write_source(root, "a_2", textured(seed=3), [Box(1, 0.5, 0.5, 0.2, 0.2)])  # collides in the old scheme
    legacy_outputs(root, "a")
    legacy_outputs(root, "a_2")  # a's old variant 2 and a_2's original were one file
    assert readers_view(root)["a"] == ["a"] + [f"a_{i}" for i in range(1, 8)]  # still usable meanwhile
    assert processor.needs_work("a") and processor.needs_work("a_2")  # reconciliation enqueues both
    for name in ("a", "a_2"):
        assert processor.process(name).status == "processed"
    images = sorted(p.name for p in root.processed.images.iterdir())
    expected = sorted(f"{stem}.jpg" for name in ("a", "a_2") for stem in [name] + [f"{name}+{i}" for i in range(1, 8)])
    assert images == expected  # nothing left twice: every old-style variant is gone
    assert root.processed.image("a_2").read_bytes() == root.data.image("a_2").read_bytes()
    assert readers_view(root)["a"] == ["a"] + [f"a+{i}" for i in range(1, 8)]
