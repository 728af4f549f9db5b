"""A minimal PNG reader for the rendering test (8-bit RGB/RGBA, not interlaced: what Chromium writes), so
that the suite needs no imaging library. Returns an (height, width, channels) uint8 array."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> channels


def _paeth_row(line: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    out, up = line.tolist(), prev.tolist()
    for i in range(len(out)):
        a = out[i - bpp] if i >= bpp else 0
        b = up[i]
        c = up[i - bpp] if i >= bpp else 0
        pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
        out[i] = (out[i] + (a if pa <= pb and pa <= pc else (b if pb <= pc else c))) & 0xFF
    return np.array(out, dtype=np.uint8)


def _average_row(line: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    out, up = line.tolist(), prev.tolist()
    for i in range(len(out)):
        out[i] = (out[i] + ((out[i - bpp] if i >= bpp else 0) + up[i]) // 2) & 0xFF
    return np.array(out, dtype=np.uint8)


def read_png(path: Path) -> np.ndarray:
    data = path.read_bytes()
    if not data.startswith(SIGNATURE):
        raise ValueError(f"{path} is not a PNG file")
    pos, idat, header = len(SIGNATURE), b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(
            f"{path}: unsupported PNG (depth {depth}, colour type {colour}, interlace {interlace})"
        )
    bpp = CHANNELS[colour]
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * bpp)
    pixels = np.zeros((height, width * bpp), dtype=np.uint8)
    prev = np.zeros(width * bpp, dtype=np.uint8)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:]
        if kind == 0:
            row = line.copy()
        elif kind == 1:  # Sub: running sum along the row, per channel
            row = (
                (np.cumsum(line.reshape(width, bpp).astype(np.int64), axis=0) & 0xFF).astype(np.uint8).ravel()
            )
        elif kind == 2:  # Up
            row = line + prev
        elif kind == 3:
            row = _average_row(line, prev, bpp)
        elif kind == 4:
            row = _paeth_row(line, prev, bpp)
        else:
            raise ValueError(f"{path}: unknown filter {kind} on row {y}")
        pixels[y] = row
        prev = row
    return pixels.reshape(height, width, bpp)
