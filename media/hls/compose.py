"""The composed picture: up to 6 feeds laid out on one canvas, scaled once per new frame.

Layout, for a stable picture when co-hosts come and go:
  1 feed   the whole canvas
  2        side by side
  3-4      a 2x2 grid (3: two on top, one centred below)
  5-6      a 3x2 grid
Each feed keeps its aspect ratio inside its cell (letterboxed in black). Coordinates and sizes
are even, as 4:2:0 chroma needs.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import av
import numpy as np

MAX_TILES = 6
BLACK_Y, BLACK_C = 16, 128


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    w: int
    h: int


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def grid(n: int) -> tuple[int, int]:
    """(columns, rows) for n tiles."""
    if n <= 1:
        return 1, 1
    if n == 2:
        return 2, 1
    if n <= 4:
        return 2, 2
    return 3, 2


def cells(n: int, width: int, height: int) -> list[Rect]:
    """The cells of n tiles on a width x height canvas, row by row; a last row with fewer
    tiles is centred."""
    n = max(0, min(n, MAX_TILES))
    if n == 0:
        return []
    cols, rows = grid(n)
    cw, ch = _even(width / cols), _even(height / rows)
    out = []
    for i in range(n):
        row, col = divmod(i, cols)
        in_row = min(cols, n - row * cols)
        left = _even((width - in_row * cw) / 2) if in_row < cols else 0
        out.append(Rect(left + col * cw, row * ch, cw, ch))
    return out


def fit(src_w: int, src_h: int, cell: Rect) -> Rect:
    """The largest rect of the source's aspect inside the cell, centred (letterbox)."""
    if src_w <= 0 or src_h <= 0:
        return cell
    scale = min(cell.w / src_w, cell.h / src_h)
    w = min(cell.w, _even(src_w * scale))
    h = min(cell.h, _even(src_h * scale))
    return Rect(
        cell.x + _even((cell.w - w) / 2) if cell.w > w else cell.x,
        cell.y + _even((cell.h - h) / 2) if cell.h > h else cell.y,
        w,
        h,
    )


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    plane = frame.planes[index]
    rows = np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)
    return rows[:, : plane.width]


class Compositor:
    """Keeps the canvas between ticks; only tiles whose frame changed are scaled again."""

    def __init__(self, width: int, height: int) -> None:
        if width % 2 or height % 2:
            raise ValueError("canvas width and height must be even")
        self.width, self.height = width, height
        self._buf = np.empty(width * height * 3 // 2, np.uint8)
        self._y = self._buf[: width * height].reshape(height, width)
        quarter = width * height // 4
        self._u = self._buf[width * height : width * height + quarter].reshape(
            height // 2, width // 2
        )
        self._v = self._buf[width * height + quarter :].reshape(height // 2, width // 2)
        self._clear(Rect(0, 0, width, height))
        self._layout: tuple[Hashable, ...] | None = None
        self._shown: dict[Hashable, tuple[int, Rect]] = {}  # key → (id of frame, where)
        self._frame: av.VideoFrame | None = None
        self.scaled = 0  # tiles scaled so far (a cost counter for benchmarks and tests)

    def _clear(self, rect: Rect) -> None:
        self._y[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w] = BLACK_Y
        cy, cx, ch, cw = rect.y // 2, rect.x // 2, rect.h // 2, rect.w // 2
        self._u[cy : cy + ch, cx : cx + cw] = BLACK_C
        self._v[cy : cy + ch, cx : cx + cw] = BLACK_C

    def _paste(self, frame: av.VideoFrame, rect: Rect) -> None:
        scaled = frame.reformat(width=rect.w, height=rect.h, format="yuv420p")
        self.scaled += 1
        self._y[rect.y : rect.y + rect.h, rect.x : rect.x + rect.w] = _plane(scaled, 0)
        cy, cx, ch, cw = rect.y // 2, rect.x // 2, rect.h // 2, rect.w // 2
        self._u[cy : cy + ch, cx : cx + cw] = _plane(scaled, 1)
        self._v[cy : cy + ch, cx : cx + cw] = _plane(scaled, 2)

    def compose(self, tiles: Sequence[tuple[Hashable, av.VideoFrame]]) -> av.VideoFrame:
        """The canvas with these tiles, in this order. Returns the previous frame object
        when nothing changed (callers set pts on a frame they do not keep)."""
        tiles = list(tiles)[:MAX_TILES]
        layout = tuple(key for key, _ in tiles)
        changed = False
        if layout != self._layout:
            self._clear(Rect(0, 0, self.width, self.height))
            self._shown.clear()
            self._layout = layout
            changed = True
        for (key, frame), cell in zip(
            tiles, cells(len(tiles), self.width, self.height), strict=True
        ):
            shown = self._shown.get(key)
            if shown is not None and shown[0] == id(frame):
                continue
            rect = fit(frame.width, frame.height, cell)
            if shown is not None and shown[1] != rect:
                self._clear(cell)  # the feed changed aspect: repaint the letterbox too
            self._paste(frame, rect)
            # The id is only compared while the frame is alive: the caller holds it.
            self._shown[key] = (id(frame), rect)
            changed = True
        if changed or self._frame is None:
            self._frame = av.VideoFrame.from_ndarray(
                self._buf.reshape(self.height * 3 // 2, self.width), format="yuv420p"
            )
        return self._frame
