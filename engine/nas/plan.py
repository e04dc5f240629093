"""Pure decisions of the NAS route: which files an asset has, what a run's results mean.

Invariants:
- The NAS keeps the DOWNLOADED bytes of every archival resource (engine.resources
  ARCHIVE_KEYS: original, live video, alternative, edited still, edited video), each at its
  own library relative path: every file is checked against the sha256 recorded at download
  (its Downloaded), never against the local file as it is now (it may be compressed).
- An asset is NAS-verified only when every one of its files re-read to the recorded sha256;
  its NasVerified lists each resource with the hash re-read. One wrong file makes the whole
  asset mismatched, and the detail names that resource.
- A NAS verification counts for the deletion gate only while it is younger than
  `nas.max_verify_age_days` (evaluated against the `now` passed in).
- The asset's XMP sidecar is one more NAS file (key engine.resources.SIDECAR, at its library
  path): a backup copies the current one; a re-read (verify nas, the re-read at deletion)
  re-reads the one the NAS was last verified to hold (a sidecar rewritten since is
  backup-nas's work, not damage).
- These functions take values and return values: no clock, file system or ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from engine import events as ev
from engine import resources as res
from engine.asset import MediaState, is_in_icloud
from engine.download.plan import capture_mtime_s

FileAction = Literal[
    "adopted", "copied", "verified", "mismatched", "missing", "unrepairable", "failed"
]
# The NasMismatched detail of a file no local source could repair: the asset needs a
# re-download from iCloud (decide_refetch_keys; the download stage fetches it).
NO_GOOD_SOURCE = "no good local source"
REFETCH_REASON = "NAS copy damaged or missing, and no local source holds the downloaded bytes"
AssetOutcome = Literal["verified", "mismatched", "failed"]
SidecarVersion = Literal["current", "on-nas"]


@dataclass(frozen=True)
class NasFile:
    """One file of an asset on the NAS: at `relpath` (same as the library), with these bytes."""

    key: str  # an engine.resources ARCHIVE_KEYS key: "original", "live_video", ...
    relpath: str
    sha256: str


@dataclass(frozen=True)
class NasJob:
    """Everything a worker needs to back up or re-verify one asset."""

    asset_id: str  # hex
    files: tuple[NasFile, ...]
    is_local_altered: bool  # the local copy was re-encoded since download
    label: str
    mtime_s: float | None = None  # the capture time: the modification time of the media copies


@dataclass(frozen=True)
class FileResult:
    """What happened to one file."""

    key: str
    relpath: str
    action: FileAction
    expected_sha256: str
    actual_sha256: str | None = None
    size_bytes: int = 0  # bytes copied to the NAS by this run
    detail: str = ""


@dataclass(frozen=True)
class AssetVerdict:
    """The outcome of one asset, ready to become its fact."""

    outcome: AssetOutcome
    is_copied: bool
    copied_bytes: int
    method: str
    expected_sha256: str
    actual_sha256: str | None
    detail: str
    files: tuple[ev.ResourceHash, ...] = ()  # verified: each resource and the hash re-read


def plan_nas_job(
    asset_id: str, state: MediaState, sidecar: SidecarVersion = "on-nas"
) -> NasJob | None:
    """Every downloaded archival resource of an asset, in ARCHIVE_KEYS order (original
    first), then its XMP sidecar (`sidecar`: the one the NAS was verified to hold, for a
    re-read; the current one, for a backup); None while the original is not downloaded
    (NasVerified names its sha256)."""
    if state.local_relpath is None or state.sha256 is None:
        return None
    by_key = {r.key: r for r in state.resources_downloaded}
    files = [
        NasFile(key, by_key[key].relpath, by_key[key].sha256)
        for key in res.ARCHIVE_KEYS
        if key in by_key
    ]
    sidecar_sha256 = (
        state.sidecar_sha256 if sidecar == "current" else res.nas_sidecar_sha256(state)
    )
    if state.sidecar_relpath is not None and sidecar_sha256 is not None:
        files.append(NasFile(res.SIDECAR, state.sidecar_relpath, sidecar_sha256))
    return NasJob(
        asset_id=asset_id,
        files=tuple(files),
        is_local_altered=state.compression_tier is not None,
        label=state.local_relpath,
        mtime_s=capture_mtime_s(state.captured_at_utc),
    )


def decide_asset_verdict(
    job: NasJob, results: list[FileResult], copied_method: str, adopted_method: str
) -> AssetVerdict:
    """Combine per-file results: verified only if every file is (see module invariants)."""
    original = job.files[0]
    copied_bytes = sum(r.size_bytes for r in results)
    is_copied = any(r.action == "copied" for r in results)
    failed = [r for r in results if r.action == "failed"]
    if failed:
        detail = "; ".join(f"{r.key} {r.relpath}: {r.detail}" for r in failed)
        return AssetVerdict("failed", is_copied, copied_bytes, "", original.sha256, None, detail)
    bad = [r for r in results if r.action in ("mismatched", "missing", "unrepairable")]
    if bad:
        first = bad[0]
        detail = "; ".join(describe_bad_file(r) for r in bad)
        return AssetVerdict(
            "mismatched", is_copied, copied_bytes, "", first.expected_sha256,
            first.actual_sha256, detail,
        )
    if len(results) != len(job.files):
        raise ValueError(f"{len(results)} results for {len(job.files)} files")
    method = copied_method if is_copied or any(r.action == "verified" for r in results) else (
        adopted_method
    )
    files = tuple(ev.ResourceHash(key=r.key, sha256=r.actual_sha256 or "") for r in results)
    return AssetVerdict(
        "verified", is_copied, copied_bytes, method, original.sha256, None, "", files
    )


def describe_bad_file(result: FileResult) -> str:
    """One clause naming the file that is wrong on the NAS and how."""
    where = f"{result.key} {result.relpath}"
    if result.action == "missing":
        return f"{where}: missing on the NAS" + (f" ({result.detail})" if result.detail else "")
    extra = f"; {result.detail}" if result.detail else ""
    if result.action == "unrepairable" and result.actual_sha256 is None:
        return f"{where}: missing on the NAS{extra}"
    actual = (result.actual_sha256 or "unreadable")[:12]
    return f"{where}: expected sha256 {result.expected_sha256[:12]}, read {actual}{extra}"


def decide_refetch_keys(state: MediaState, results: list[FileResult]) -> tuple[str, ...]:
    """The resources to download again from iCloud so the NAS copies nothing local could
    repair can be: () when none, when iCloud no longer holds the asset (`recover` first),
    or when they are already asked for. The still and its live video go together when the
    local copy was altered: compression re-encodes both, and the local copy only counts as
    the downloaded bytes again once both are (engine.asset)."""
    keys = {r.key for r in results if r.action == "unrepairable" and r.key != res.SIDECAR}
    if not keys or not is_in_icloud(state):
        return ()
    if keys & {res.ORIGINAL, res.LIVE_VIDEO} and state.compression_tier is not None:
        keys |= {res.ORIGINAL, res.LIVE_VIDEO}
    wanted = {k for k in keys if res.downloaded(state, k) is not None}
    if wanted <= set(state.refetch_resources):
        return ()
    return tuple(k for k in res.ARCHIVE_KEYS if k in wanted)


def is_new_mismatch(state: MediaState, detail: str, nas_id: str) -> bool:
    """False when the asset's last NAS fact already says exactly this about this NAS: a copy
    nothing can repair stays on backup-nas's work list, and is recorded once, not per run.
    (engine.asset folds a NasMismatched into last_error as "NAS copy mismatch: <detail>".)"""
    return not (
        state.nas_status == "mismatched"
        and state.nas_id == nas_id
        and state.last_error == f"NAS copy mismatch: {detail}"
    )



def is_nas_copy_current(
    state: MediaState, now: datetime, max_verify_age: timedelta, mounted_nas_id: str | None
) -> bool:
    """The mounted NAS holds the downloaded bytes, re-read no longer than `max_verify_age`
    ago. Evidence about another NAS (a swapped share) counts for nothing; None: no NAS."""
    return (
        state.sha256 is not None
        and mounted_nas_id is not None
        and (state.nas_id or "") == mounted_nas_id
        and state.nas_status == "verified"
        and state.nas_verified_sha256 == state.sha256
        and state.nas_verified_at_utc is not None
        and now - state.nas_verified_at_utc <= max_verify_age
    )


def parse_duration_s(text: str) -> float:
    """'90', '90s', '30m', '2h', '1d' -> seconds; ValueError for anything else."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    value = text.strip().lower()
    factor = units.get(value[-1:]) if value else None
    number = value[:-1] if factor is not None else value
    try:
        seconds = float(number) * (factor or 1.0)
    except ValueError:
        raise ValueError(f"{text!r} is not a duration (e.g. 90s, 30m, 2h)") from None
    if not seconds > 0:
        raise ValueError(f"{text!r}: a duration must be positive")
    return seconds


def decide_facts_still_holding(state: MediaState, facts: list[Any]) -> list[Any]:
    """Of one asset's NAS facts decided on a stale copy, those that hold for `state`.

    The NAS facts of a batch are about the downloaded bytes the files were checked against
    (NasVerified: the original's sha256 and each resource's; NasMismatched: the wrong file's
    expected_sha256). They all still hold while the asset's downloads are those bytes, and
    none does once a new download replaced any of them. A sidecar re-read is a fact about
    the NAS whatever the sidecar is now.
    """
    current = {r.key: r.sha256 for r in state.resources_downloaded}
    current |= {h.key: h.sha256 for f in facts if isinstance(f, ev.NasVerified)
                for h in f.files if h.key == res.SIDECAR}

    def holds(fact: Any) -> bool:
        if isinstance(fact, ev.NasVerified):
            return fact.sha256 == state.sha256 and all(
                current.get(h.key) == h.sha256 for h in fact.files
            )
        if isinstance(fact, ev.NasMismatched):
            return fact.expected_sha256 in current.values()
        return True  # NasCopied: holds with the verdict that follows it

    nas_facts = [f for f in facts if isinstance(f, (ev.NasVerified, ev.NasMismatched))]
    return list(facts) if nas_facts and all(holds(f) for f in nas_facts) else []
