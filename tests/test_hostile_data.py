"""Hostile data: decompression bombs (IDX and images), odd image files, empty test splits, labels
without a name, symlinked class folders and names that would break a one-line message."""

import gzip
import os
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from analysis.data import datasets as data
from analysis.data import files as datafiles
from analysis.errors import InputError

IDX_IMAGES = "t10k-images-idx3-ubyte"


def idx_header(type_code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + b"".join(int(n).to_bytes(4, "big") for n in dims)


def write_gzip_bomb(path: Path, header: bytes, payload: int, padding: int) -> None:
    """A valid header and payload, then ``padding`` zero bytes: written in 1 MiB steps, so the test
    itself never holds the inflated file."""
    chunk = bytes(1 << 20)
    with gzip.open(path, "wb") as handle:
        handle.write(header + bytes(payload))
        for _ in range(padding // len(chunk)):
            handle.write(chunk)


def write_idx_folder(folder: Path, train_labels, test_labels) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, labels in (("train", train_labels), ("t10k", test_labels)):
        labels = np.asarray(labels, dtype=np.uint8)
        data.write_idx(folder / f"{prefix}-images-idx3-ubyte", np.zeros((len(labels), 28, 28), np.uint8))
        data.write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    return folder


def one_line_naming(error: pytest.ExceptionInfo, name: str) -> str:
    message = str(error.value)
    assert "\n" not in message and name in message, message
    return message


# IDX files


def test_an_idx_gzip_bomb_is_refused_after_reading_only_the_promised_bytes(tmp_path):
    path = tmp_path / f"{IDX_IMAGES}.gz"
    write_gzip_bomb(path, idx_header(8, (10, 28, 28)), 10 * 28 * 28, 200 << 20)
    assert path.stat().st_size < 1 << 20  # 200 MB of zeros inflate from a few hundred KB
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="more data than the 7,840 bytes its header promises.*truncated or "
                                             "corrupted"):
            data.read_idx(path, 2051)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 << 20, f"the reader held {peak:,} bytes for a file that promises 7,840"


def test_an_idx_header_promising_more_than_the_cap_is_refused_before_reading(tmp_path):
    path = tmp_path / f"{IDX_IMAGES}.gz"
    path.write_bytes(gzip.compress(idx_header(8, (100_000, 256, 256)) + bytes(1000)))
    with pytest.raises(InputError, match=f"promises 6,553,600,000 bytes of data, more than the limit of "
                                         f"{data.MAX_IDX_BYTES:,}"):
        data.read_idx(path, 2051)


def test_a_gzip_idx_file_with_a_damaged_stream_is_one_line(tmp_path):
    path = tmp_path / f"{IDX_IMAGES}.gz"
    packed = bytearray(gzip.compress(idx_header(8, (2, 28, 28)) + bytes(range(256)) * 7, mtime=0))
    packed[12:20] = b"\xff" * 8  # inside the deflate stream: zlib.error, which is not an OSError
    path.write_bytes(bytes(packed))
    with pytest.raises(InputError) as error:
        data.read_idx(path, 2051)
    one_line_naming(error, path.name)


@pytest.mark.parametrize("type_code, name", [(0x0D, "4-byte float"), (0x09, "signed byte"), (0x42, "unknown")])
def test_idx_data_types_other_than_unsigned_bytes_are_refused(tmp_path, type_code, name):
    path = tmp_path / IDX_IMAGES
    path.write_bytes(idx_header(type_code, (1, 2, 2)) + bytes(16))
    with pytest.raises(InputError, match=f"type code 0x{type_code:02X} \\({name}"):
        data.read_idx(path, 2051)


def test_an_idx_file_without_dimensions_is_refused(tmp_path):
    path = tmp_path / IDX_IMAGES
    path.write_bytes(idx_header(8, ()) + b"\x07")
    with pytest.raises(InputError, match="has no dimensions"):
        data.read_idx(path, 0x0800)  # a magic that agrees, so only the dimension byte is wrong


# Images: decompression bombs


def image_folder(root: Path, odd=None, classes=("a", "b"), size=8) -> Path:
    """train/<class>/0.png and test/<class>/0.png, plain 8×8 RGB; ``odd(folder)`` adds a file to the
    last test class, so that it is the last test image."""
    for split in ("train", "test"):
        for value, name in enumerate(classes):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (size, size), (value * 60 % 256, 0, 0)).save(root / split / name / "0.png")
    if odd is not None:
        odd(root / "test" / classes[-1])
    return root


@pytest.mark.parametrize("size, pixels", [((120, 100), "12,000"), ((200, 200), "40,000")])
def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch, size, pixels):
    # 12,000 pixels only warns in Pillow (between 1 and 2 times the limit); 40,000 raises its own error
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    decoded = []
    load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(Path(self.filename).name)
                        or load(self))
    root = image_folder(tmp_path, lambda folder: Image.new("1", size).save(folder / "odd.png"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match=f"has {pixels} pixels, more than the limit of 10,000") as error:
            data.load(str(root))
    one_line_naming(error, "odd.png")
    assert decoded == []  # loading reads headers only: images are decoded batch by batch when used
    splits = data.load(str(image_folder(tmp_path / "fine")))
    splits.test.images[0]
    assert set(decoded) == {"0.png"}  # the hook sees decoding


def test_an_image_over_pillows_default_limit_is_refused(tmp_path):
    root = image_folder(tmp_path, lambda folder: Image.new("1", (9500, 9500)).save(folder / "odd.png"))
    with pytest.raises(InputError, match=f"has 90,250,000 pixels, more than the limit of {Image.MAX_IMAGE_PIXELS:,}"):
        data.load(str(root))


# Images: odd modes and broken files


def save_pgm16(folder: Path) -> None:
    (folder / "odd.pgm").write_bytes(b"P5\n8 8\n65535\n" + (40000).to_bytes(2, "big") * 64)  # Pillow: mode "I"


def save_palette_with_transparency(folder: Path) -> None:
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 250, 20, 10] + [0] * 762)
    image.save(folder / "odd.png", transparency=bytes([0, 128]))


def save_frames(suffix: str):
    def save(folder: Path) -> None:
        first, second = Image.new("L", (8, 8), 10), Image.new("L", (8, 8), 200)
        first.save(folder / f"odd.{suffix}", save_all=True, append_images=[second])
    return save


READABLE = {
    "16-bit PNG (I;16)": (lambda f: Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(f / "odd.png"), 156),
    "16-bit PGM (I)": (save_pgm16, 156),
    "float TIFF in 0..1 (F)": (lambda f: Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(f / "odd.tif"), 128),
    "CMYK JPEG": (lambda f: Image.new("CMYK", (8, 8), (0, 255, 0, 0)).save(f / "odd.jpg", quality=100), (255, 0, 255)),
    "palette with transparency": (save_palette_with_transparency, (250, 20, 10)),
    "grey with alpha (LA)": (lambda f: Image.new("LA", (8, 8), (100, 0)).save(f / "odd.png"), 100),
    "1-bit": (lambda f: Image.new("1", (8, 8), 1).save(f / "odd.png"), 255),
    "multi-frame TIFF": (save_frames("tif"), 10),
    "animated PNG": (save_frames("png"), 10),
}


@pytest.mark.parametrize("kind", READABLE)
def test_odd_image_modes_are_read_as_rgb(tmp_path, kind):
    save, expected = READABLE[kind]
    root = image_folder(tmp_path, save)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. Pillow's warning on palette transparency in bytes
        splits = data.load(str(root))
    odd = splits.test.images[-1]
    assert odd.shape == (3, 8, 8) and odd.dtype == np.uint8
    assert np.abs(odd.reshape(3, -1).astype(int) - np.reshape(expected, (-1, 1))).max() <= 3, odd[:, 0, 0]


def save_truncated_png(folder: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (8, 8, 3), np.uint8)
    Image.fromarray(noise).save(folder / "odd.png")
    raw = (folder / "odd.png").read_bytes()
    (folder / "odd.png").write_bytes(raw[: len(raw) - 40])


def save_png_with_a_short_header_chunk(folder: Path) -> None:
    Image.new("RGB", (8, 8)).save(folder / "odd.png")
    raw = bytearray((folder / "odd.png").read_bytes())
    raw[11] = 10  # IHDR says 10 bytes instead of 13: Pillow raises ValueError, not OSError
    (folder / "odd.png").write_bytes(bytes(raw))


REFUSED = {
    "empty file": (lambda f: (f / "odd.png").write_bytes(b""), "cannot read image"),
    "text posing as a PNG": (lambda f: (f / "odd.png").write_text("not an image\n"), "cannot read image"),
    "truncated PNG": (save_truncated_png, "cannot read image"),
    "PNG with a short header chunk": (save_png_with_a_short_header_chunk, "cannot read image"),
    "PPM with an endless header token": (lambda f: (f / "odd.ppm").write_bytes(b"P6 " + b"9" * 100 + b" 8 255\n"),
                                         "cannot read image"),
    "float TIFF outside 0..1": (lambda f: Image.fromarray(np.full((8, 8), 2.0, np.float32)).save(f / "odd.tif"),
                                "floating-point pixels from 2 to 2"),
    "32-bit TIFF beyond 16 bits": (lambda f: Image.fromarray(np.full((8, 8), 70000, np.int32)).save(f / "odd.tif"),
                                   "pixel values from 70000 to 70000"),
}


@pytest.mark.parametrize("kind", REFUSED)
def test_broken_or_unreadable_images_are_one_line_naming_the_file(tmp_path, kind):
    save, message = REFUSED[kind]
    root = image_folder(tmp_path, save)
    with pytest.raises(InputError, match=message) as error:  # at loading, or (damage past the header) at reading
        np.asarray(data.load(str(root)).test.images)
    one_line_naming(error, "odd.")


# Empty test splits


def test_an_idx_folder_without_test_images_is_refused_but_no_train_images_is_fine(tmp_path):
    with pytest.raises(InputError, match="the test split of .* has no images: t10k-images-idx3-ubyte holds 0"):
        data.load(str(write_idx_folder(tmp_path / "no-test", [1, 2, 3], [])))
    splits = data.load(str(write_idx_folder(tmp_path / "no-train", [], [1, 2, 3])))
    assert len(splits.train) == 0 and len(splits.test) == 3


def test_an_image_folder_with_empty_test_class_folders_is_refused(tmp_path):
    root = image_folder(tmp_path)
    for image in (root / "test").rglob("*.png"):
        image.unlink()
    with pytest.raises(InputError, match="the test split of .* has no images"):
        data.load(str(root))


def test_class_folders_too_small_to_split_are_named(tmp_path):
    for name, count in (("a", 3), ("b", 1)):
        (tmp_path / name).mkdir()
        for i in range(count):
            Image.new("RGB", (8, 8)).save(tmp_path / name / f"{i}.png")
    with pytest.raises(InputError, match=r"class\(es\) with fewer than 2 images \(b\)"):
        data.load(str(tmp_path))


# Labels without a name


def test_an_idx_label_beyond_the_class_names_is_refused_unless_names_are_given(tmp_path):
    folder = write_idx_folder(tmp_path / "MNIST", [0, 1], [0, 200])
    with pytest.raises(InputError, match="t10k-labels-idx1-ubyte holds label 200, but MNIST has 10 classes "
                                         "\\(0–9\\).*--class-names"):
        data.load(str(folder))
    names = [f"c{i}" for i in range(201)]
    assert data.load(str(folder), class_names=names).class_names == names


def test_too_few_class_names_says_where_the_names_came_from(tmp_path):
    folder = write_idx_folder(tmp_path / "MNIST", [0, 1], [0, 9])
    with pytest.raises(InputError, match="^the checkpoint's data_config.class_names gives 2 names but the data has "
                                         "10 classes"):
        data.load(str(folder), class_names=["a", "b"], names_from="the checkpoint's data_config.class_names")
    with pytest.raises(InputError, match="^--class-names gives 2 names"):
        data.load(str(folder), class_names=["a", "b"])


# What the identity covers


def test_the_identity_covers_images_read_through_a_symlinked_class_folder(tmp_path):
    elsewhere = image_folder(tmp_path / "elsewhere", classes=("c",))
    root = image_folder(tmp_path / "data")
    for split in ("train", "test"):
        os.symlink(elsewhere / split / "c", root / split / "c")
    splits = data.load(str(root))
    identity = data.data_identity(str(root))
    assert splits.class_names == ["a", "b", "c"]
    assert len(identity["files"]) == len(splits.train) + len(splits.test) == 6
    Image.new("RGB", (8, 8), "white").save(elsewhere / "test" / "c" / "0.png")
    assert data.data_identity(str(root)) != identity


def test_hidden_files_are_neither_read_nor_hashed(tmp_path):
    root = image_folder(tmp_path, lambda folder: (folder / "._0.png").write_bytes(b"\x00\x05\x16\x07 resource fork"))
    splits = data.load(str(root))
    assert len(splits.test) == 2
    assert not any("._0.png" in name for name in data.data_identity(str(root))["files"])


@pytest.mark.parametrize("target", [".", "..", "../.."])
def test_a_symlink_loop_in_a_class_folder_is_refused_in_one_line(tmp_path, target):
    root = image_folder(tmp_path)
    os.symlink(target, root / "test" / "b" / "loop")
    with pytest.raises(InputError, match="symbolic link") as error:
        data.load(str(root))
    one_line_naming(error, "loop")
    with pytest.raises(InputError, match="symbolic link"):
        data.data_identity(str(root))


def test_the_loader_and_the_identity_share_one_listing(tmp_path):
    root = image_folder(tmp_path, classes=("a", "b", "c"))
    (root / "test" / "extra").mkdir()  # not a class of train/: never read, so never hashed
    Image.new("RGB", (8, 8)).save(root / "test" / "extra" / "0.png")
    (root / "test" / "b" / "deeper").mkdir()
    Image.new("RGB", (8, 8)).save(root / "test" / "b" / "deeper" / "1.png")
    listing = datafiles.image_folder_listing(root)
    read = [path for files in listing.files.values() for _, path in files]
    hashed = data.data_identity(str(root))["files"]
    assert list(hashed) == [str(path.relative_to(root)) for path in read]
    assert "test/b/deeper/1.png" in hashed and "test/extra/0.png" not in hashed


# Names in messages


def test_control_characters_and_long_lists_of_names_stay_on_one_line(tmp_path):
    names = ["0\nline"] + [f"{i:02d}" + "x" * 253 for i in range(19)]  # 255 bytes: the longest a name can be
    root = image_folder(tmp_path, classes=tuple(names) + ("ok",))
    for name in names:
        (root / "test" / name / "0.png").unlink()
    with pytest.raises(InputError, match=r"class\(es\) 0\\nline, 00x") as error:
        data.load(str(root))
    message = one_line_naming(error, "… and 12 more")
    assert len(message) < 1200
