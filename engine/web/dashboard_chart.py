"""The dashboard's savings chart: the savings report's `over_time` section as plain SVG geometry.

Invariants:
- Drawn on the server (the template writes the SVG elements): no JavaScript, no chart library.
- One point per month of the report, per series, carrying the month and the exact byte total
  it stands for (the running totals `compression_saved_total` and `icloud_freed_total`), so
  what is drawn can be checked against `photoledger report savings --json`.
- The y axis starts at 0, never goes below it (a negative total is drawn at 0), and is labelled
  in binary units; with nothing saved or freed the chart is a sentence, not an empty frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from engine.units import human_bytes

WIDTH, HEIGHT = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 10, 34
SERIES = (
    ("compression_saved_total", "saved by compression", "#2a6fdb"),
    ("icloud_freed_total", "freed in iCloud", "#d9730d"),
)
_UNITS = (("B", 1), ("KiB", 1024), ("MiB", 1024**2), ("GiB", 1024**3), ("TiB", 1024**4))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    month: str
    total_bytes: int

    @property
    def words(self) -> str:
        return human_bytes(self.total_bytes)


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str
    points: list[Point]

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class SavingsChart:
    width: int
    height: int
    series: list[Series]
    y_ticks: list[tuple[float, str]]  # (y, label)
    x_labels: list[tuple[float, str]]  # (x, month)
    empty: str | None  # the sentence shown instead of a chart

    @property
    def so_far(self) -> str:
        """The latest running totals in words ('' without a chart)."""
        return "; ".join(f"{s.label}: {s.points[-1].words}" for s in self.series if s.points)


def _scale(largest: int) -> tuple[str, int, float]:
    """(unit name, unit bytes, axis top in units): a 1-2-5 step above the largest value."""
    name, unit = next(((n, u) for n, u in reversed(_UNITS) if largest >= u), _UNITS[0])
    value = largest / unit
    magnitude = 10 ** math.floor(math.log10(value)) if value > 0 else 1
    top = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= value)
    return name, unit, float(top)


def savings_chart(over_time: list[dict[str, Any]]) -> SavingsChart:
    """The chart of the report's `over_time` rows (month, running totals), oldest first."""
    largest = max((max(int(r[k] or 0) for k, _l, _c in SERIES) for r in over_time), default=0)
    if largest <= 0:
        return SavingsChart(WIDTH, HEIGHT, [], [], [], "Nothing saved or freed yet.")
    name, unit, top = _scale(largest)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = len(over_time)

    def x_of(i: int) -> float:
        return LEFT + (plot_w / 2 if count == 1 else plot_w * i / (count - 1))

    def y_of(total: int) -> float:
        return TOP + plot_h * (1 - max(total, 0) / unit / top)

    series = [Series(key, text, color, [
        Point(x_of(i), y_of(int(r[key] or 0)), str(r["month"]), int(r[key] or 0))
        for i, r in enumerate(over_time)]) for key, text, color in SERIES]
    ticks = [(TOP + plot_h * (1 - f), f"{top * f:g} {name}") for f in (0, 0.5, 1)]
    step = max(1, math.ceil(count / 6))  # at most about six month labels on a phone
    labels = [(x_of(i), str(r["month"])) for i, r in enumerate(over_time) if i % step == 0]
    return SavingsChart(WIDTH, HEIGHT, series, ticks, labels, None)
