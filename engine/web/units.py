"""Numbers as people read them on the web pages.

Invariant: bytes are shown with binary units (KiB, MiB, ...) as the CLI shows them, never as
raw integers.
"""

from __future__ import annotations


def human_bytes(size_bytes: int | None) -> str:
    """1536 -> '1.5 KiB' (the CLI's units); None -> '-'."""
    if size_bytes is None:
        return "-"
    value = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"
