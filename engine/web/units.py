"""Numbers as people read them on the web pages.

Invariants:
- bytes are shown with binary units by engine.units.human_bytes, as the CLI shows them; text
  is always escaped before a `command` in it is marked up as code; names
  from iCloud are shown with their control characters as escapes (`visible`).
"""

from __future__ import annotations

import unicodedata

from markupsafe import Markup, escape


def with_code(text: str) -> str:
    """Words as HTML (a Markup), escaped, with each `command` in backticks set as <code>."""
    parts = str(escape(text)).split("`")
    html = "".join(f"<code>{part}</code>" if i % 2 else part for i, part in enumerate(parts))
    return Markup(html)  # every part was escaped above


def visible(text: str) -> str:
    """Text with its control characters shown as escapes ('a\\x00b.jpg'), never sent raw: a
    file name may hold any of them."""
    return "".join(f"\\x{ord(c):02x}" if unicodedata.category(c) == "Cc" else c for c in text)
