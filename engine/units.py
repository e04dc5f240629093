"""Quantities in the words people read, the same on the command line and the web pages.

Invariant: bytes are shown with binary units (B, KiB, MiB, GiB, TiB), never raw integers.
"""

from __future__ import annotations


def human_bytes(size_bytes: int | None) -> str:
    """1536 -> '1.5 KiB'; None -> '-'."""
    if size_bytes is None:
        return "-"
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
