"""A report's chart (`photoledger report --plot`): matplotlib, headless Agg backend.

Invariant: matplotlib is imported only when a chart is drawn (it costs most of a second), so
importing this module is cheap. A chart reads only the report's sections, never the database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from projections.reports import Report

GIB = 1024**3


def plot_report(report: Report, path: Path) -> None:
    """Write the report's chart as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    try:
        if report.name == "savings":
            _savings(ax, report)
        elif report.name == "backlog":
            _backlog(ax, report)
        else:
            _failures(ax, report)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)


def _savings(ax: Any, report: Report) -> None:
    rows = report.sections["over_time"].records()
    months = [r["month"] for r in rows]
    ax.plot(months, [r["compression_saved_total"] / GIB for r in rows],
            marker="o", label="saved by compression")
    ax.plot(months, [r["icloud_freed_total"] / GIB for r in rows],
            marker="o", label="freed in iCloud")
    ax.set_title("Savings over time (running totals)")
    ax.set_ylabel("GiB")
    ax.legend()
    ax.tick_params(axis="x", labelrotation=45)


def _backlog(ax: Any, report: Report) -> None:
    rows = report.sections["stages"].records()
    ax.bar([r["stage"] for r in rows], [r["waiting"] for r in rows])
    ax.set_title("Backlog by stage (assets waiting)")
    ax.set_ylabel("assets")


def _failures(ax: Any, report: Report) -> None:
    counts: dict[str, int] = {}
    for r in report.sections["failures"].records():
        stage = r["waiting_for"] or "none"
        counts[stage] = counts.get(stage, 0) + 1
    ax.bar(list(counts), list(counts.values()))
    ax.set_title("Assets with problems by the stage they wait for")
    ax.set_ylabel("assets")
