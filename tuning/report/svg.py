"""Dependency-free SVG charts for the report: round ticks, categorical or numeric axes, points, lines and a
legend, with every value escaped so the page stays well-formed XML."""

from __future__ import annotations

import html
import math
from typing import Any, Iterable

WIDTH, HEIGHT = 560, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 64, 64, 28, 48
BLUE, ORANGE, GREY, GREEN = "#1f77b4", "#ff7f0e", "#888888", "#2ca02c"


def esc(value: Any) -> str:
    """Text or attribute value, escaped (trial ids and errors come from files anyone could write)."""
    return html.escape(str(value), quote=True)


def fmt(x: float | None, digits: int = 4) -> str:
    """A short human reading of a number ("-" for none): scientific only where plain would be unreadable."""
    if x is None:
        return "-"
    if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}".rstrip("0").rstrip(".") or "0"


def nice_ticks(lo: float, hi: float, count: int = 5, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (whole numbers only with ``integer``)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-12 * max(1.0, abs(lo), abs(hi)):
        pad = abs(lo) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    start = math.floor(lo / step) * step
    ticks = []
    x = start
    while x <= hi + step * 0.5 and len(ticks) < 50:
        ticks.append(round(x, 12))
        x += step
    if ticks[-1] < hi:
        ticks.append(round(x, 12))
    return ticks


class Axis:
    """Maps values to pixels over round ticks (numeric) or one slot per category."""

    def __init__(self, values: Iterable[float], lo_px: float, hi_px: float, categories: list[str] | None = None,
                 integer: bool = False):
        self.categories = categories
        self.lo_px, self.hi_px = lo_px, hi_px
        if categories is not None:
            self.ticks = list(range(len(categories)))
            self.lo, self.hi = -0.5, len(categories) - 0.5
        else:
            vals = list(values)
            self.ticks = nice_ticks(min(vals), max(vals), integer=integer) if vals else [0.0, 1.0]
            self.lo, self.hi = self.ticks[0], self.ticks[-1]

    def __call__(self, value: float) -> float:
        span = (self.hi - self.lo) or 1.0
        return self.lo_px + (value - self.lo) / span * (self.hi_px - self.lo_px)

    def label(self, tick: float) -> str:
        if self.categories is not None:
            return self.categories[int(tick)]
        step = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else 0.0
        if step <= 0 or step >= 1 or abs(tick) >= 1e5:
            return fmt(tick, 3)
        # Enough decimals to tell neighbouring ticks apart (0.0755 and 0.0760, not 0.076 twice).
        mantissa = round(step / 10 ** math.floor(math.log10(step)), 6)
        decimals = max(0, math.ceil(-math.log10(step) - 1e-9)) + (0 if mantissa in (1, 2, 5) else 1)
        return f"{tick:.{decimals}f}"


class Chart:
    """One SVG: a frame, axes with ticks and labels, then marks."""

    def __init__(self, chart_id: str, title: str, x_label: str, y_label: str, y2_label: str | None = None):
        self.chart_id, self.title = chart_id, title
        self.x_label, self.y_label, self.y2_label = x_label, y_label, y2_label
        self.left, self.right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
        self.parts: list[str] = []

    def x_axis(self, values, categories=None, integer: bool = False) -> Axis:
        return Axis(values, self.left, self.right, categories, integer)

    def y_axis(self, values) -> Axis:
        return Axis(values, self.bottom, self.top)

    def frame(self, x: Axis, y: Axis, y2: Axis | None = None) -> None:
        p = self.parts
        p.append(f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
                 f'height="{self.bottom - self.top}" fill="none" stroke="#ccc"/>')
        for t in x.ticks:
            px = x(t)
            p.append(f'<line x1="{px:.1f}" y1="{self.bottom}" x2="{px:.1f}" y2="{self.bottom + 4}" stroke="#444"/>')
            p.append(f'<text x="{px:.1f}" y="{self.bottom + 16}" text-anchor="middle">{esc(x.label(t))}</text>')
        for t in y.ticks:
            py = y(t)
            p.append(f'<line x1="{self.left}" y1="{py:.1f}" x2="{self.right}" y2="{py:.1f}" stroke="#eee"/>')
            p.append(f'<text x="{self.left - 6}" y="{py + 4:.1f}" text-anchor="end">{esc(y.label(t))}</text>')
        if y2 is not None:
            for t in y2.ticks:
                py = y2(t)
                p.append(f'<text x="{self.right + 6}" y="{py + 4:.1f}" text-anchor="start" '
                         f'fill="{ORANGE}">{esc(y2.label(t))}</text>')
        cx, cy = (self.left + self.right) / 2, (self.top + self.bottom) / 2
        p.append(f'<text x="{cx:.1f}" y="{HEIGHT - 10}" text-anchor="middle">{esc(self.x_label)}</text>')
        p.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})" '
                 f'fill="{BLUE}">{esc(self.y_label)}</text>')
        if self.y2_label:
            xr = WIDTH - 12
            p.append(f'<text x="{xr}" y="{cy:.1f}" text-anchor="middle" transform="rotate(90 {xr} {cy:.1f})" '
                     f'fill="{ORANGE}">{esc(self.y2_label)}</text>')

    def empty(self, message: str) -> None:
        cx, cy = (self.left + self.right) / 2, (self.top + self.bottom) / 2
        self.parts.append(f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
                          f'height="{self.bottom - self.top}" fill="#fafafa" stroke="#ccc"/>')
        self.parts.append(f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" fill="{GREY}">{esc(message)}</text>')

    def points(self, pts: list[tuple[float, float, str]], color: str, highlight: set[int] = frozenset(),
               radius: float = 4.0) -> None:
        for i, (px, py, tip) in enumerate(pts):
            if i in highlight:
                self.parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{radius + 3:.1f}" fill="none" '
                                  f'stroke="{GREEN}" stroke-width="2"><title>{esc(tip)}</title></circle>')
            self.parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="{radius:.1f}" fill="{color}" '
                              f'fill-opacity="0.75"><title>{esc(tip)}</title></circle>')

    def line(self, pts: list[tuple[float, float]], color: str, step: bool = False, dash: str | None = None) -> None:
        if len(pts) < 2:
            return
        coords = []
        for i, (px, py) in enumerate(pts):
            if step and i:
                coords.append(f"{px:.1f},{pts[i - 1][1]:.1f}")
            coords.append(f"{px:.1f},{py:.1f}")
        extra = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{color}" '
                          f'stroke-width="1.5"{extra}/>')

    def legend(self, entries: list[tuple[str, str]]) -> None:
        x = self.left + 8
        for label, color in entries:
            self.parts.append(f'<rect x="{x}" y="{self.top - 18}" width="10" height="10" fill="{color}"/>')
            self.parts.append(f'<text x="{x + 14}" y="{self.top - 9}">{esc(label)}</text>')
            x += 24 + 7 * len(label)

    def svg(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" id="{esc(self.chart_id)}" class="chart" '
                f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
                f'font-family="sans-serif" font-size="11"><title>{esc(self.title)}</title>'
                + "".join(self.parts) + "</svg>")
