"""A report's chart (`photoledger report --plot`): matplotlib, headless Agg backend.

Invariants:
- matplotlib is imported only when a chart is drawn (it costs most of a second), so importing
  this module is cheap. A chart reads only the report's sections, never the database.
- Every chart is dated (the report's `now`, UTC) and names the ledger position; counts and
  bytes start at 0 and never go below it; a chart with nothing to draw says so in words
  ("nothing waiting") instead of an empty frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from projections.reports import Report

MIB, GIB = 1024**2, 1024**3


def plot_report(report: Report, path: Path) -> None:
    """Write the report's chart as a PNG at `path`."""
    import matplotlib.pyplot as plt

    fig = draw_report(report)
    try:
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)


def draw_report(report: Report) -> Any:
    """The report's chart as a matplotlib Figure (the caller closes it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    drawn = {"savings": _savings, "backlog": _backlog}.get(report.name, _failures)(ax, report)
    if not drawn:
        ax.set_axis_off()
    else:
        ax.set_ylim(bottom=0, top=max(ax.get_ylim()[1], 1))
    when = f"{report.as_of_utc:%Y-%m-%d %H:%M} UTC, " if report.as_of_utc else ""
    fig.text(0.99, 0.01, f"{when}ledger position {report.ledger_position}",
             ha="right", va="bottom", fontsize=8, color="dimgray")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def _nothing(ax: Any, title: str, words: str) -> bool:
    ax.set_title(title)
    ax.text(0.5, 0.5, words, ha="center", va="center", fontsize=16, transform=ax.transAxes)
    return False


def _savings(ax: Any, report: Report) -> bool:
    rows = report.sections["over_time"].records()
    title = "Savings over time (running totals)"
    largest = max((max(r["compression_saved_total"], r["icloud_freed_total"]) for r in rows),
                  default=0)
    if largest <= 0:
        return _nothing(ax, title, "nothing saved or freed yet")
    unit, name = (GIB, "GiB") if largest >= GIB else (MIB, "MiB")
    months = [r["month"] for r in rows]
    ax.plot(months, [max(r["compression_saved_total"], 0) / unit for r in rows],
            marker="o", label="saved by compression")
    ax.plot(months, [max(r["icloud_freed_total"], 0) / unit for r in rows],
            marker="o", label="freed in iCloud")
    ax.set_title(title)
    ax.set_ylabel(name)
    ax.legend()
    ax.tick_params(axis="x", labelrotation=45)
    return True


def _bars(ax: Any, counts: dict[str, int], title: str) -> bool:
    from matplotlib.ticker import MaxNLocator

    ax.bar(list(counts), list(counts.values()))
    ax.set_title(title)
    ax.set_ylabel("assets")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return True


def _backlog(ax: Any, report: Report) -> bool:
    counts = {r["stage"]: int(r["waiting"]) for r in report.sections["stages"].records()}
    title = "Backlog by stage (assets waiting)"
    if not any(counts.values()):
        return _nothing(ax, title, "nothing waiting")
    return _bars(ax, counts, title)


def _failures(ax: Any, report: Report) -> bool:
    counts: dict[str, int] = {}
    for r in report.sections["failures"].records():
        stage = r["waiting_for"] or "none"
        counts[stage] = counts.get(stage, 0) + 1
    title = "Assets with problems by the stage they wait for"
    if not counts:
        return _nothing(ax, title, "no problems")
    return _bars(ax, counts, title)
