"""Why backlog items wait, in words: the codes of projections.dashboard.waiting_reasons and the
reasons of the backlog report's `stuck` section (problems, and the deletion gate's block codes
from engine.cleanup.gate).

Invariant: every code reads as a sentence fragment a person can act on; an unknown code is
still shown (its dashes as spaces), never dropped.
"""

from __future__ import annotations

_WAITING = {
    "partly-downloaded": "partly downloaded: the rest is fetched by the next run",
    "retry-due": "an earlier attempt failed: tried again by the next run",
    "not-downloaded-yet": "not downloaded yet",
    "nas-not-copied": "not copied to the NAS yet",
    "nas-mismatched": "the NAS copy did not match: copied again by the next run",
    "nas-incomplete": "a resource downloaded since the NAS copy was verified is not on it yet",
    "nas-not-verified": "copied to the NAS, not yet verified by a re-read",
    "nas-older-download": "the NAS holds an older download: copied again by the next run",
    "sidecar-not-on-nas": "the XMP sidecar is not on the NAS yet",
    "waiting-for-pixel": "staged in the outbox, waiting for the Pixel to take the file",
    "not-staged": "not staged for the Pixel yet",
}

_GATE = {
    "nas-unavailable": "the NAS is not mounted (its marker is missing)",
    "nas-other": "verified on another NAS than the one mounted",
    "nas-stale": "the NAS copy was not re-read recently enough (`photoledger verify nas`)",
    "nas-not-verified": "no verified NAS copy of the downloaded bytes",
    "google-not-verified": "not on the Pixel yet",
    "too-recent": "too recent (`cleanup.keep_recent_days`)",
    "no-date": "no capture or added date: cannot tell whether it is recent",
    "not-in-delete-pending": "not in the DeletePending album yet",
    "removed-from-album": "you took it out of DeletePending: never deleted",
    "not-compressed": "a compression tier is due first",
    "not-downloaded": "no verified download of the original",
    "deleted-elsewhere": "no longer in iCloud",
    "already-requested": "a deletion was already asked for",
    "already-deleted": "already deleted",
    "sidecar-stale": "iCloud changed the metadata since the XMP sidecar was written",
    "sidecar-not-on-nas": "the current XMP sidecar has no verified NAS copy",
    "quarantined": "quarantined (see its history)",
    "size-mismatch": "the download's size is not the one iCloud declares",
    "remote-changed": "iCloud holds a newer original than the one downloaded",
    "local-removed": "the local copy was already removed",
}
# Download failures and quarantines (engine.download.plan's reason codes), as recorded.
_PROBLEMS = {
    "cut_body": "the connection broke off every time",
    "http_error": "iCloud answered with an HTTP error",
    "url_expired": "the download link expired",
    "throttled": "iCloud throttled the downloads",
    "served_size_mismatch": "iCloud served another size than it declares",
    "metadata_mismatch": "iCloud's record changed under the download",
    "recovered_bytes_differ": "the recovered bytes are not the ones downloaded before",
}
_RESOURCE_SUFFIXES = {
    "-not-on-nas": "has no verified NAS copy",
    "-not-downloaded": "was not downloaded",
    "-unreadable": "could not be read from iCloud's record",
    "-changed": "downloaded is not the one iCloud lists now",
}


def waiting_words(code: str) -> str:
    """A plain waiting reason (projections.dashboard) in words."""
    return _WAITING.get(code, code.replace("-", " "))


def gate_words(code: str) -> str:
    """A deletion-gate block code in words ('live_video-not-on-nas' names the resource)."""
    if code in _GATE:
        return _GATE[code]
    for suffix, words in _RESOURCE_SUFFIXES.items():
        if code.endswith(suffix):
            return f"the {code.removesuffix(suffix).replace('_', ' ')} {words}"
    return code.replace("-", " ")


def stuck_words(reason: str) -> str:
    """A `stuck` row's reason in words: 'gate: <code>' is translated, and so is a known
    download failure or quarantine code ('failed: cut_body' reads 'failed: the connection
    broke off every time (cut_body)'); other problems are already words."""
    if reason.startswith("gate: "):
        return "held back: " + gate_words(reason.removeprefix("gate: "))
    head, _, code = reason.rpartition(": ")
    if head and code in _PROBLEMS:
        return f"{head}: {_PROBLEMS[code]} ({code})"
    return reason
