"""Image sizes read from headers: hand-made headers (no Pillow) and real images (Pillow)."""

from __future__ import annotations

import base64
import io
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest

from vlmroute._tokens import image_size, parse_size
from vlmroute.errors import ImageError, UnreadableImageError

# --- hand-made headers ------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + (13).to_bytes(4, "big") + b"IHDR" + ihdr + b"\0" * 4


def gif(width: int, height: int, version: bytes = b"89a") -> bytes:
    return b"GIF" + version + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\0" * 3


def riff(chunk: bytes, payload: bytes) -> bytes:
    body = b"WEBP" + chunk + len(payload).to_bytes(4, "little") + payload
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def webp_vp8(width: int, height: int) -> bytes:
    frame = b"\x10\x02\x00" + b"\x9d\x01\x2a"
    return riff(b"VP8 ", frame + width.to_bytes(2, "little") + height.to_bytes(2, "little") + b"\0")


def webp_vp8l(width: int, height: int) -> bytes:
    bits = (width - 1) | ((height - 1) << 14)
    return riff(b"VP8L", b"\x2f" + bits.to_bytes(4, "little") + b"\0" * 3)


def webp_vp8x(width: int, height: int) -> bytes:
    sizes = (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return riff(b"VP8X", b"\x10\0\0\0" + sizes)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def sof(marker: int, width: int, height: int) -> bytes:
    body = b"\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + b"\x03"
    return segment(marker, body + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01")


def jpeg(width: int, height: int, *, exif_bytes: int = 4000, marker: int = 0xC0) -> bytes:
    """SOI, JFIF, a big EXIF APP1, fill bytes, DQT, DHT, DAC, TEM, then the SOF and a scan."""
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
        + segment(0xE1, b"Exif\0\0" + b"\xff" * exif_bytes)
        + b"\xff\xff\xff"  # fill bytes before the next marker
        + segment(0xDB, b"\0" + bytes(64))
        + segment(0xC4, b"\0" + bytes(16) + b"\0")  # DHT: not a frame header
        + segment(0xCC, b"\0\x10")  # DAC: not a frame header
        + segment(0xC8, b"\0")  # JPG extension: not a frame header
        + b"\xff\x01"  # TEM: a marker with no length
        + sof(marker, width, height)
        + segment(0xDA, b"\x01\x01\0\0\x3f\0")
        + b"\x12\x34"
        + b"\xff\xd9"
    )


HAND_MADE = [
    ("png", png(640, 480), (640, 480)),
    ("gif89a", gif(320, 200), (320, 200)),
    ("gif87a", gif(1, 65535, b"87a"), (1, 65535)),
    ("webp-vp8", webp_vp8(1920, 1080), (1920, 1080)),
    ("webp-vp8l", webp_vp8l(16383, 1), (16383, 1)),
    ("webp-vp8x", webp_vp8x(16_000_000, 3), (16_000_000, 3)),
    ("jpeg-baseline", jpeg(4032, 3024), (4032, 3024)),
    ("jpeg-progressive", jpeg(7, 9, marker=0xC2), (7, 9)),
    ("jpeg-big-exif", jpeg(100, 50, exif_bytes=65_000), (100, 50)),
]


@pytest.mark.parametrize(("kind", "data", "size"), HAND_MADE, ids=[r[0] for r in HAND_MADE])
def test_hand_made_headers(kind: str, data: bytes, size: tuple[int, int]) -> None:
    assert image_size(data) == size
    assert image_size(bytearray(data)) == size
    assert image_size(memoryview(data)) == size


@pytest.mark.parametrize(("kind", "data", "size"), HAND_MADE, ids=[r[0] for r in HAND_MADE])
def test_files_and_data_uris(kind: str, data: bytes, size: tuple[int, int], tmp_path: Path) -> None:
    path = tmp_path / f"image.{kind}"
    path.write_bytes(data)
    assert image_size(path) == size
    assert image_size(str(path)) == size
    assert image_size("data:image/x;base64," + base64.b64encode(data).decode()) == size
    assert image_size("data:," + urllib.parse.quote_from_bytes(data)) == size


def test_jpeg_far_behind_large_segments_in_a_file(tmp_path: Path) -> None:
    app = segment(0xE2, bytes(65_000))
    data = b"\xff\xd8" + app * 16 + sof(0xC1, 1234, 567)  # ~1 MB, no scan, no EOI
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    assert image_size(path) == (1234, 567)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, world: not an image at all",
        b"BM" + bytes(60),  # BMP is not supported
        png(640, 480)[:20],  # IHDR cut short
        b"\x89PNG\r\n\x1a\n" + bytes(30),  # no IHDR
        gif(10, 10)[:8],
        webp_vp8(10, 10)[:26],
        riff(b"VP8 ", bytes(20)),  # no VP8 start code
        riff(b"VP8L", bytes(10)),  # no VP8L signature
        riff(b"ALPH", bytes(20)),  # unknown first chunk
        jpeg(10, 10)[:300],  # cut inside the EXIF segment
        b"\xff\xd8",
        b"\xff\xd8\xff\xd9",  # EOI before any frame header
        b"\xff\xd8" + segment(0xDA, bytes(6)) + sof(0xC0, 5, 5),  # scan before frame
        b"\xff\xd8\x00\x00\x00\x00",  # not a marker
        b"\xff\xd8\xff\xe0\x00",  # segment length cut short
        b"\xff\xd8\xff\xe0\x00\x01",  # impossible segment length
        b"\xff\xd8" + sof(0xC0, 5, 5)[:7],  # frame header cut short
    ],
)
def test_unreadable_bytes(data: bytes) -> None:
    with pytest.raises(UnreadableImageError):
        image_size(data)


@pytest.mark.parametrize(
    "data",
    [png(0, 10), png(10, 0), gif(0, 5), jpeg(0, 10), jpeg(10, 0)],
    ids=["png-w0", "png-h0", "gif-w0", "jpeg-w0", "jpeg-h0"],
)
def test_zero_dimensions_are_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableImageError, match="0"):
        image_size(data)


def test_unreadable_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not an image")
    with pytest.raises(UnreadableImageError, match=r"notes\.txt"):
        image_size(path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.png"
    with pytest.raises(ImageError, match=r"missing\.png") as info:
        image_size(path)
    assert not isinstance(info.value, UnreadableImageError)


def test_directory_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageError):
        image_size(tmp_path)


@pytest.mark.parametrize("url", ["http://example.com/a.png", "HTTPS://example.com/b.jpg"])
def test_urls_are_not_fetched(url: str) -> None:
    with pytest.raises(ImageError, match="WxH") as info:
        image_size(url)
    assert not isinstance(info.value, UnreadableImageError)


@pytest.mark.parametrize(
    "uri", ["data:image/png;base64", "data:image/png;base64,!!!!a", "data:image/png;base64,"]
)
def test_bad_data_uris(uri: str) -> None:
    with pytest.raises(UnreadableImageError):
        image_size(uri)


@pytest.mark.parametrize("source", [12345, None, 1.5, ["a.png"]])
def test_unsupported_types(source: object) -> None:
    with pytest.raises(ImageError, match="WxH"):
        image_size(source)  # type: ignore[arg-type]


def test_messages_never_carry_much_of_the_source(tmp_path: Path) -> None:
    garbage = b"\x00garbage" * 100_000
    long_uri = "data:image/png;base64," + base64.b64encode(garbage).decode()
    long_path = str(tmp_path / ("x" * 200 + ".png"))
    long_url = "https://example.com/" + "y" * 5000
    for source in (garbage, long_uri, long_path, long_url):
        with pytest.raises(ImageError) as info:
            image_size(source)
        message = str(info.value)
        assert len(message) < 250
        assert "x" * 100 not in message
        assert "y" * 100 not in message
        assert "AGdhcmJhZ2" * 10 not in message


def test_measuring_bytes_does_not_import_pillow() -> None:
    code = (
        "import sys; from vlmroute._tokens import image_size; "
        f"assert image_size({png(3, 4)!r}) == (3, 4); "
        "print([m for m in sys.modules if m.split('.')[0] == 'PIL'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- parse_size -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1920x1080", (1920, 1080)),
        ("1920X1080", (1920, 1080)),
        ("1920\u00d71080", (1920, 1080)),  # the multiplication sign
        (" 640 x 480 ", (640, 480)),
        ("1x1", (1, 1)),
    ],
)
def test_parse_size(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text",
    ["1920", "0x10", "10x0", "axb", "1920x", "-1x5", "1.5x2", "", "1920*1080", "\u0661x\u0662"],
)
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(ImageError, match="WIDTHxHEIGHT") as info:
        parse_size(text)
    assert repr(text)[1:-1] in str(info.value)


def test_parse_size_rejects_non_strings() -> None:
    with pytest.raises(ImageError):
        parse_size(1920)  # type: ignore[arg-type]


# --- real images made with Pillow -------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "options"),
    [
        ("PNG", {}),
        ("GIF", {}),
        ("JPEG", {}),
        ("JPEG", {"progressive": True}),
        ("WEBP", {"lossless": False}),
        ("WEBP", {"lossless": True}),
    ],
)
def test_pillow_images(fmt: str, options: dict[str, object], tmp_path: Path) -> None:
    pil_image = pytest.importorskip("PIL.Image")
    if fmt == "WEBP":
        features = pytest.importorskip("PIL.features")
        if not features.check("webp"):
            pytest.skip("Pillow was built without WebP")
    image = pil_image.new("RGB", (37, 23), (200, 100, 50))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    data = buffer.getvalue()
    assert image_size(data) == (37, 23)
    path = tmp_path / f"image.{fmt.lower()}"
    path.write_bytes(data)
    assert image_size(path) == (37, 23)


def test_pillow_jpeg_with_exif_and_webp_with_alpha() -> None:
    pil_image = pytest.importorskip("PIL.Image")
    exif = pil_image.Exif()
    exif[0x010E] = "description " * 5000  # a ~60 kB APP1 segment before the SOF
    buffer = io.BytesIO()
    pil_image.new("RGB", (640, 360)).save(buffer, "JPEG", exif=exif.tobytes())
    assert len(buffer.getvalue()) > 60_000
    assert image_size(buffer.getvalue()) == (640, 360)
    features = pytest.importorskip("PIL.features")
    if features.check("webp"):
        buffer = io.BytesIO()
        pil_image.new("RGBA", (300, 2), (0, 0, 0, 0)).save(buffer, "WEBP", exif=b"Exif\0\0")
        assert buffer.getvalue()[12:16] == b"VP8X"
        assert image_size(buffer.getvalue()) == (300, 2)


def test_pil_image_object() -> None:
    pil_image = pytest.importorskip("PIL.Image")
    assert image_size(pil_image.new("L", (5, 7))) == (5, 7)


def test_bmp_from_pillow_is_unreadable() -> None:
    pil_image = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    pil_image.new("RGB", (4, 4)).save(buffer, "BMP")
    with pytest.raises(UnreadableImageError, match="bytes"):
        image_size(buffer.getvalue())
