"""The seven variants: one albumentations pipeline each, boxes transformed with the image.

Top-down drone imagery has no "up": flips are label-preserving; small
rotations and scale changes mimic heading and altitude; light, colour, motion
blur, sensor noise and cloud shadows vary with weather and camera. (Fog was
the first choice for weather; albumentations' RandomFog takes almost a second
per 1280x720 image, forty times all the others together.) Each variant is one
named transform, so a variant's effect on boxes is easy to reason about (the
flip maps cx to 1 - cx, photometric variants leave boxes as they are).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from augmentor.settings import TransformOptions

VARIANT_NAMES = ("hflip", "affine", "brightness_contrast", "hue_saturation", "motion_blur", "noise", "cloud_shadow")


@dataclass(frozen=True)
class Variant:
    index: int  # 1..7, the suffix of the output name
    name: str
    pipeline: object  # albumentations.Compose
    moves_boxes: bool  # False for photometric variants: boxes stay exactly as they are


def build_variants(options: TransformOptions) -> list[Variant]:
    import albumentations as A
    import cv2

    def compose(transform) -> A.Compose:
        if isinstance(transform, A.ImageOnlyTransform):
            return A.Compose([transform], strict=True)
        return A.Compose(
            [transform],
            bbox_params=A.BboxParams(format="yolo", label_fields=["class_ids"], clip=True, filter_invalid_bboxes=True),
            strict=True,
        )

    o = options
    transforms = {
        "hflip": A.HorizontalFlip(p=1.0),
        "affine": A.Affine(
            rotate=(-o.rotate_degrees, o.rotate_degrees),
            scale=(o.scale_min, o.scale_max),
            translate_percent=(-o.translate_fraction, o.translate_fraction),
            border_mode=cv2.BORDER_CONSTANT,  # mirrored borders would invent objects
            p=1.0,
        ),
        "brightness_contrast": A.RandomBrightnessContrast(
            brightness_limit=(-o.brightness, o.brightness), contrast_limit=(-o.contrast, o.contrast), p=1.0
        ),
        "hue_saturation": A.HueSaturationValue(
            hue_shift_limit=(-o.hue_shift, o.hue_shift),
            sat_shift_limit=(-o.saturation_shift, o.saturation_shift),
            val_shift_limit=(-o.value_shift, o.value_shift),
            p=1.0,
        ),
        "motion_blur": A.MotionBlur(blur_limit=(3, o.motion_blur_max | 1), p=1.0),
        "noise": A.GaussNoise(std_range=(o.noise_std_min, o.noise_std_max), noise_scale_factor=o.noise_scale, p=1.0),
        "cloud_shadow": A.RandomShadow(
            shadow_roi=(0.0, 0.0, 1.0, 1.0),
            num_shadows_limit=(o.shadows_min, max(o.shadows_min, o.shadows_max)),
            p=1.0,
        ),
    }
    return [
        Variant(i, name, compose(transforms[name]), not isinstance(transforms[name], A.ImageOnlyTransform))
        for i, name in enumerate(VARIANT_NAMES, start=1)
    ]


def variant_seed(seed: int, name: str, index: int) -> int:
    """A stable seed per (configured seed, image, variant): reruns produce the same bytes."""
    digest = hashlib.sha256(f"{seed}:{name}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def apply_variant(
    variant: Variant, image: np.ndarray, boxes: list[tuple[float, float, float, float]], class_ids: list[int], seed: int
):
    """(image, boxes, class_ids) after the variant's transform."""
    variant.pipeline.set_random_seed(seed)
    if not variant.moves_boxes:
        return variant.pipeline(image=image)["image"], list(boxes), list(class_ids)
    out = variant.pipeline(image=image, bboxes=np.array(boxes, dtype=np.float64).reshape(-1, 4), class_ids=class_ids)
    return out["image"], [tuple(map(float, b)) for b in out["bboxes"]], [int(c) for c in out["class_ids"]]
