"""Image files decoded as uint8 (3, H, W) RGB with Pillow: their headers checked first (readable, within the
pixel limit), truncated files refused whoever loosened Pillow, 16-bit and float images scaled to 0..255.
Used for image folders and for the encoded images of parquet files."""

from __future__ import annotations

import contextlib
import math
import re
import warnings
from pathlib import Path

import numpy as np

from analysis.data.paths import printable
from analysis.errors import InputError


def image_size(path, source=None) -> tuple[int, int]:
    """(width, height) from the header only, refusing what read_image would refuse before decoding.
    ``source``: a file object to read instead of ``path`` (which then only names the image)."""
    with _image_errors(path), _open_checked(path, source) as opened:
        return opened.width, opened.height


class ImageSize(int):
    """The side images are brought to, and how: the interpolation and the centre crop of a model's own
    preprocessing (timm's ``crop_pct``: the shorter side resized to ``floor(size / crop_pct)``, the centre
    ``size``×``size`` kept, as timm's and torchvision's evaluation transforms do). Everywhere else it is the int
    it is (image shapes, the data's identity), and a plain int means the plain bilinear square resize."""

    interpolation: str
    crop_pct: float

    def __new__(cls, size: int, interpolation: str = "bilinear", crop_pct: float = 1.0):
        made = super().__new__(cls, size)
        made.interpolation, made.crop_pct = interpolation, float(crop_pct)
        return made

    def __reduce__(self):  # DataLoader workers receive it pickled
        return ImageSize, (int(self), self.interpolation, self.crop_pct)


# Pillow's filters by the names timm and transformers' image processors use.
RESAMPLING = {"nearest": 0, "lanczos": 1, "bilinear": 2, "bicubic": 3, "box": 4, "hamming": 5}


def resized_image(image, size: int):
    """A Pillow image brought to ``size``×``size``: a square resize, or for an ImageSize with a crop, the shorter
    side resized and the centre kept; with its interpolation (bilinear for a plain int)."""
    interpolation = RESAMPLING.get(getattr(size, "interpolation", "bilinear"), RESAMPLING["bilinear"])
    crop = getattr(size, "crop_pct", 1.0)
    if crop >= 1:
        return image.resize((size, size), interpolation)
    scale = int(math.floor(size / crop))
    width, height = image.size
    shape = (scale, max(scale, int(height * scale / width))) if width <= height else \
        (max(scale, int(width * scale / height)), scale)  # truncated, as torchvision's Resize does
    image = image.resize(shape, interpolation)
    left, top = int(round((shape[0] - size) / 2.0)), int(round((shape[1] - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def read_image(path, input_size: int | None, source=None) -> np.ndarray:
    """One image as uint8 (3, H, W), brought to ``input_size`` (resized_image) when given; ``source`` as for
    image_size."""
    with _image_errors(path), _strict_decoding(), _open_checked(path, source) as opened:
        image = _as_rgb(path, opened)  # Pillow opens on the first frame of an animation or a stack
        if input_size:
            image = resized_image(image, input_size)
        return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


@contextlib.contextmanager
def _open_checked(path, source=None):
    """The image opened (Pillow reads the header only), refused beyond the pixel limit before decoding."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # refused below, with the numbers
        opened = Image.open(source if source is not None else path)
    with opened:
        limit = Image.MAX_IMAGE_PIXELS  # None when a user turned the check off
        if limit and opened.width * opened.height > limit:
            raise _too_many_pixels(path, opened.width * opened.height)
        yield opened


@contextlib.contextmanager
def _strict_decoding():
    """A truncated file is an error, whoever imported what: WeasyPrint sets Pillow's process-wide
    LOAD_TRUNCATED_IMAGES on import, after which Pillow fills a cut-off image with grey, silently."""
    from PIL import ImageFile

    lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = lenient


@contextlib.contextmanager
def _image_errors(path: Path):
    """Whatever is wrong with the file (Pillow raises OSError, ValueError, SyntaxError, struct.error, ...
    for malformed files) becomes one line naming it."""
    from PIL import Image

    try:
        yield
    except InputError:
        raise
    except MemoryError:
        raise InputError(f"not enough memory to read image {printable(path)} at the size asked for: lower "
                         "--input-size, or free memory") from None
    except Image.DecompressionBombError as error:  # Pillow's own refusal, at twice the limit
        found = re.search(r"\((\d+) pixels\)", str(error))
        raise _too_many_pixels(path, int(found.group(1)) if found else None) from None
    except Exception as error:
        raise InputError(f"cannot read image {printable(path)} ({printable(error) or type(error).__name__}): "
                         "remove or replace it") from None


def _too_many_pixels(path: Path, pixels: int | None) -> InputError:
    """Refused before decoding: a small file may inflate to gigabytes."""
    from PIL import Image

    count = f"{pixels:,} pixels" if pixels is not None else "more pixels"
    return InputError(f"image {printable(path)} has {count}, more than the limit of {Image.MAX_IMAGE_PIXELS:,}: "
                      "it may be a decompression bomb; shrink it, or remove it")


def _as_rgb(path: Path, image):
    """RGB with the full 0..255 range. Pillow's convert("RGB") clips 16-bit and 32-bit values to 255 and
    floats to 0..255, which turns most such images white or black, so those are scaled here."""
    from PIL import Image

    if image.mode.startswith("I;16") or image.mode == "I":  # Pillow opens 16-bit PGM and PPM files as "I"
        values = np.asarray(image)
        _refuse_values_outside(path, values, 0, 65535, "pixel values", "beyond 16 bits")
        grey = (values.astype(np.uint32) * 255 + 32767) // 65535
        return Image.fromarray(grey.astype(np.uint8), "L").convert("RGB")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float32)
        _refuse_values_outside(path, values, 0.0, 1.0, "floating-point pixels", "outside 0..1")
        return Image.fromarray(np.round(values * 255).astype(np.uint8), "L").convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")  # Pillow warns on converting such a palette to RGB directly
    return image.convert("RGB")  # alpha is dropped, as torchvision's ImageFolder loader drops it


def _refuse_values_outside(path: Path, values: np.ndarray, low, high, what: str, why: str) -> None:
    if values.size and not (np.all(np.isfinite(values)) and values.min() >= low and values.max() <= high):
        raise InputError(f"image {printable(path)} holds {what} from {values.min():g} to {values.max():g}, "
                         f"{why}: their scale is unknown; save it as an 8-bit or 16-bit image")
