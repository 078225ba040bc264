"""Checks that an annotation's image is a JPEG that decodes, before it is written."""

from __future__ import annotations

import io
import warnings

from PIL import Image

from ingestor.errors import InapplicableError

JPEG_EOI = b"\xff\xd9"


def check_jpeg(data: bytes, full: bool = True, max_pixels: int = 100_000_000) -> tuple[int, int]:
    """(width, height) of a JPEG image; InapplicableError says why it is refused.

    ``full`` decodes the pixels (catches corrupt entropy data); otherwise only the
    header, the dimensions and the end-of-image marker are checked.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != "JPEG":
                raise InapplicableError(f"image is {image.format or 'not an image'}, expected JPEG")
            width, height = image.size
            if width * height > max_pixels:
                raise InapplicableError(f"image of {width}x{height} pixels exceeds the limit of {max_pixels}")
            if full:
                image.load()
            elif not data.rstrip(b"\x00").endswith(JPEG_EOI):
                raise InapplicableError("image is truncated (no JPEG end-of-image marker)")
    except InapplicableError:
        raise
    except Exception as exc:  # Pillow raises many types for broken data
        raise InapplicableError(f"image does not decode: {type(exc).__name__}: {str(exc)[:160]}") from exc
    return width, height
