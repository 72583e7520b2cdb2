"""What a photo file says about its pixels besides the pixels: EXIF orientation and the ICC colour profile.

OpenCV's `IMREAD_UNCHANGED` (needed for 16-bit and alpha) ignores both, so a phone JPEG stored sideways with
"rotate 90" in its EXIF came out sideways, and the profile (Display P3, Adobe RGB, ...) was lost, which
shifts colours in any colour-managed viewer. This module reads both from the raw file bytes (JPEG APP1/APP2,
PNG eXIf/iCCP, WebP EXIF/ICCP, TIFF IFD0), applies the orientation to the pixel array, and writes a profile
back into JPEG and PNG output. No dependency beyond numpy and the standard library.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

ICC_TAG = 34675  # TIFF/EXIF tag of an embedded ICC profile
ORIENTATION_TAG = 0x0112
_JPEG_ICC = b"ICC_PROFILE\x00"
_JPEG_ICC_CHUNK = 65519 - 14 - 2  # APP2 payload limit minus the "ICC_PROFILE\0" + seq + count header


# ----------------------------------------------------------------------------------------------- reading
def _tiff_ifd0(tiff: bytes) -> dict[int, bytes | int]:
    """Tags of the first IFD of a TIFF structure (an EXIF block is one): orientation as an int, ICC as bytes."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return {}
    end = "<" if tiff[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(end + "I", tiff, 4)
        (count,) = struct.unpack_from(end + "H", tiff, offset)
        out: dict[int, bytes | int] = {}
        for i in range(count):
            tag, typ, n, value = struct.unpack_from(end + "HHII", tiff, offset + 2 + 12 * i)
            if tag == ORIENTATION_TAG and typ == 3:  # SHORT, stored in the first 2 bytes of the value field
                (out[tag],) = struct.unpack_from(end + "H", tiff, offset + 2 + 12 * i + 8)
            elif tag == ICC_TAG and typ in (1, 7) and n > 4 and value + n <= len(tiff):
                out[tag] = tiff[value : value + n]
        return out
    except struct.error:  # a damaged block is ignored, like a viewer would
        return {}


def _jpeg_segments(data: bytes):
    """(marker, payload) of the JPEG header segments, up to the start of the image data."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: no more metadata
            return
        (length,) = struct.unpack_from(">H", data, pos + 2)
        yield marker, data[pos + 4 : pos + 2 + length]
        pos += 2 + length


def _png_chunks(data: bytes):
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        yield kind, data[pos + 8 : pos + 8 + length]
        if kind == b"IDAT":
            return
        pos += 12 + length


def _webp_chunks(data: bytes):
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack_from("<I", data, pos + 4)
        yield kind, data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)


def read_metadata(data: bytes) -> tuple[int, bytes | None]:
    """(EXIF orientation 1..8, ICC profile bytes or None) of an encoded image file."""
    orientation, icc = 1, None
    if data[:3] == b"\xff\xd8\xff":
        parts: dict[int, bytes] = {}
        for marker, payload in _jpeg_segments(data):
            if marker == 0xE1 and payload[:6] == b"Exif\x00\x00":
                orientation = int(_tiff_ifd0(payload[6:]).get(ORIENTATION_TAG, orientation))
            elif marker == 0xE2 and payload[:12] == _JPEG_ICC and len(payload) > 14:
                parts[payload[12]] = payload[14:]
        icc = b"".join(parts[k] for k in sorted(parts)) or None
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        for kind, payload in _png_chunks(data):
            if kind == b"eXIf":
                orientation = int(_tiff_ifd0(payload).get(ORIENTATION_TAG, orientation))
            elif kind == b"iCCP":
                name_end = payload.find(b"\x00")
                try:
                    icc = zlib.decompress(payload[name_end + 2 :]) if name_end > 0 else None
                except zlib.error:
                    icc = None
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        for kind, payload in _webp_chunks(data):
            if kind == b"EXIF":
                tiff = payload[6:] if payload[:6] == b"Exif\x00\x00" else payload
                orientation = int(_tiff_ifd0(tiff).get(ORIENTATION_TAG, orientation))
            elif kind == b"ICCP":
                icc = payload or None
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        tags = _tiff_ifd0(data)
        orientation = int(tags.get(ORIENTATION_TAG, 1))
        icc = tags.get(ICC_TAG) if isinstance(tags.get(ICC_TAG), bytes) else None  # type: ignore[assignment]
    return (orientation if 1 <= orientation <= 8 else 1), icc


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels as they are meant to be seen: undo the camera's EXIF orientation (1 = already upright)."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],  # mirrored left-right
        3: lambda a: a[::-1, ::-1],  # upside down
        4: lambda a: a[::-1],  # mirrored top-bottom
        5: lambda a: a.swapaxes(0, 1),  # transposed
        6: lambda a: a.swapaxes(0, 1)[:, ::-1],  # stored rotated 90 degrees counter-clockwise: turn clockwise
        7: lambda a: a[::-1, ::-1].swapaxes(0, 1),  # transversed
        8: lambda a: a.swapaxes(0, 1)[::-1],  # stored rotated clockwise: turn counter-clockwise
    }
    return np.ascontiguousarray(ops.get(int(orientation), ops[1])(img))


# ----------------------------------------------------------------------------------------------- writing
ICC_FORMATS = (".jpg", ".jpeg", ".png")  # where `embed_icc` can put a profile


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def embed_icc(data: bytes, icc: bytes) -> bytes:
    """`data` (an encoded JPEG or PNG, as OpenCV writes it) with the ICC profile `icc` embedded."""
    if data[:3] == b"\xff\xd8\xff":
        chunks = [icc[i : i + _JPEG_ICC_CHUNK] for i in range(0, len(icc), _JPEG_ICC_CHUNK)]
        if len(chunks) > 255:
            raise ValueError("ICC profile too large for JPEG")
        segments = b"".join(
            b"\xff\xe2" + struct.pack(">H", 2 + 14 + len(c)) + _JPEG_ICC + bytes([i + 1, len(chunks)]) + c
            for i, c in enumerate(chunks))
        pos = 2
        if data[2:4] == b"\xff\xe0":  # after the JFIF APP0, which must come first
            (length,) = struct.unpack_from(">H", data, 4)
            pos = 4 + length
        return data[:pos] + segments + data[pos:]
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        (ihdr_len,) = struct.unpack_from(">I", data, 8)
        pos = 8 + 12 + ihdr_len  # iCCP goes right after IHDR (before PLTE and IDAT)
        return data[:pos] + _png_chunk(b"iCCP", b"icc\x00\x00" + zlib.compress(icc)) + data[pos:]
    raise ValueError("embed_icc takes JPEG or PNG data")
