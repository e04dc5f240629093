"""Download tokens, signed-looking URLs, checksums and the bytes behind them.

Invariants:
- A token names (owner record, resource prefix, revision) and nothing else; it is opaque
  base64url, safe in a URL path. The bytes behind a token are those iCloud holds *now* for that
  record and prefix, so a URL handed out before an edit serves the edited bytes.
- Fast content is pseudo-random, generated on demand from (seed, owner, prefix, revision) in
  64 KiB chunks: the same range always gives the same bytes and nothing is kept in memory. The
  first bytes carry the file type's magic number so sniffers see the declared type.
- Checksums are content-derived the way Apple's are: the same (seed, owner, prefix, revision)
  always gives the same 28-character base64 fileChecksum.
"""

from __future__ import annotations

import base64
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from simulator.icloud.contract import CONTENT_HOST, ContentBlob, RequestContext
from simulator.icloud.rows import CANON_RAW, HEIC, JPEG, MPEG4, PNG, QUICKTIME

CHUNK_BYTES = 65536
MAGIC_BY_TYPE: dict[str, bytes] = {
    JPEG: b"\xff\xd8\xff\xe1\x00\x18Exif\x00\x00",
    HEIC: b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
    QUICKTIME: b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
    MPEG4: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
    PNG: b"\x89PNG\r\n\x1a\n",
    CANON_RAW: b"II*\x00\x10\x00\x00\x00CR\x02\x00",
}


def content_token(owner_name: str, prefix: str, rev: int) -> str:
    raw = f"{owner_name}|{prefix}|{rev}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def parse_content_token(token: str) -> tuple[str, str, int] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        owner, prefix, rev_text = raw.split("|")
        return owner, prefix, int(rev_text)
    except ValueError:
        return None


def content_digest(seed: int, owner_name: str, prefix: str, rev: int) -> bytes:
    return hashlib.blake2b(f"{seed}|{owner_name}|{prefix}|{rev}".encode(), digest_size=20).digest()


def file_checksum(seed: int, owner_name: str, prefix: str, rev: int) -> str:
    """Apple-style fileChecksum: base64 of a version byte and a 20-byte digest."""
    return base64.b64encode(b"\x01" + content_digest(seed, owner_name, prefix, rev)).decode("ascii")


def wrapping_key(seed: int, owner_name: str, prefix: str) -> str:
    digest = hashlib.blake2b(f"wk|{seed}|{owner_name}|{prefix}".encode(), digest_size=16).digest()
    return base64.b64encode(digest).decode("ascii")


def download_url(token: str, ctx: RequestContext, *, zone_name: str, key: str) -> str:
    """A URL shaped like Apple's: the literal `${f}` path segment and an `e=` expiry (epoch s)."""
    expiry_s = int(ctx.now_s + ctx.url_ttl_s)
    signature = hashlib.blake2b(f"{token}|{expiry_s}".encode(), digest_size=12).hexdigest()
    return (
        f"https://{CONTENT_HOST}/B/{token}/${{f}}?o={signature}&v=1&x=3&a=CAog&e={expiry_s}"
        f"&fl=&r={signature[:8]}-{ctx.dsid}&k={quote(key, safe='')}&ckc=com.apple.photos.cloud"
        f"&ckz={quote(zone_name, safe='')}&p=42&s=AbCd"
    )


@dataclass(frozen=True)
class FastBlob:
    """Deterministic pseudo-random bytes of a declared size, made on demand."""

    key: str
    size_bytes: int
    magic: bytes = b""

    def read_range(self, start: int, end_exclusive: int) -> bytes:
        end = min(end_exclusive, self.size_bytes)
        if start >= end:
            return b""
        parts: list[bytes] = []
        for chunk_index in range(start // CHUNK_BYTES, (end - 1) // CHUNK_BYTES + 1):
            chunk = self._chunk(chunk_index)
            chunk_start = chunk_index * CHUNK_BYTES
            parts.append(chunk[max(start - chunk_start, 0) : end - chunk_start])
        return b"".join(parts)

    def _chunk(self, index: int) -> bytes:
        data = random.Random(f"{self.key}|{index}").randbytes(CHUNK_BYTES)
        if index == 0 and self.magic:
            data = self.magic + data[len(self.magic) :]
        return data


@dataclass(frozen=True)
class FileBlob:
    """A real media file from the generator's cache folder."""

    path: Path
    size_bytes: int

    def read_range(self, start: int, end_exclusive: int) -> bytes:
        end = min(end_exclusive, self.size_bytes)
        if start >= end:
            return b""
        with self.path.open("rb") as handle:
            handle.seek(start)
            return handle.read(end - start)


@dataclass(frozen=True)
class ResizedBlob:
    """Serves `size_bytes` of an inner blob: cut short, or padded with junk past its end."""

    inner: ContentBlob
    size_bytes: int

    def read_range(self, start: int, end_exclusive: int) -> bytes:
        end = min(end_exclusive, self.size_bytes)
        if start >= end:
            return b""
        inner_size = self.inner.size_bytes
        head = self.inner.read_range(start, min(end, inner_size)) if start < inner_size else b""
        pad_from = max(start, inner_size)
        padding = (
            random.Random(f"pad|{inner_size}").randbytes(end - pad_from) if end > pad_from else b""
        )
        return head + padding


def fast_blob(  # noqa: PLR0917
    seed: int, owner_name: str, prefix: str, rev: int, size_bytes: int, file_type: str
) -> FastBlob:
    return FastBlob(
        f"{seed}|{owner_name}|{prefix}|{rev}", size_bytes, MAGIC_BY_TYPE.get(file_type, b"")
    )
