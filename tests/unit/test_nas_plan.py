"""Pure NAS decisions: which files, what a set of file results means, freshness, durations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import msgspec
import pytest

from engine.asset import MediaState
from engine.events import NasMismatched, NasVerified, ResourceHash
from engine.nas.access import ADOPTED_METHOD, REREAD_METHOD
from engine.nas.plan import (
    FileResult,
    NasFile,
    NasJob,
    decide_asset_verdict,
    decide_facts_still_holding,
    is_nas_copy_current,
    is_new_mismatch,
    parse_duration_s,
    plan_nas_job,
)
from engine.resources import DownloadedResource

T = datetime(2026, 3, 1, tzinfo=UTC)
A, B, C, D = "a" * 64, "b" * 64, "c" * 64, "d" * 64


def live_job() -> NasJob:
    files = (NasFile("original", "x/IMG.HEIC", A), NasFile("live_video", "x/IMG_HEVC.MOV", B))
    return NasJob("11" * 16, files, False, "x/IMG.HEIC")


def result(key: str, action: str, expected: str, actual: str | None = None) -> FileResult:
    relpath = "x/IMG.HEIC" if key == "original" else "x/IMG_HEVC.MOV"
    return FileResult(key, relpath, action, expected, actual)  # type: ignore[arg-type]


def downloaded(key: str, relpath: str, sha256: str) -> DownloadedResource:
    return DownloadedResource(key=key, relpath=relpath, size_bytes=1, sha256=sha256, checksum="")


def test_nas_plan_lists_every_archival_resource_original_first() -> None:
    resources = (
        downloaded("adjusted", "x/IMG_E.JPG", C), downloaded("thumb", "x/IMG_T.JPG", C),
        downloaded("live_video", "x/IMG_HEVC.MOV", B), downloaded("original", "x/IMG.HEIC", A),
        downloaded("alternative", "x/IMG.DNG", D), downloaded("medium", "x/IMG_M.JPG", C),
        downloaded("adjusted_video", "x/IMG_E.MOV", B),
    )
    state = MediaState(local_relpath="x/IMG.HEIC", sha256=A, resources_downloaded=resources)
    job = plan_nas_job("11" * 16, state)
    assert job is not None
    assert [(f.key, f.relpath, f.sha256) for f in job.files] == [
        ("original", "x/IMG.HEIC", A), ("live_video", "x/IMG_HEVC.MOV", B),
        ("alternative", "x/IMG.DNG", D), ("adjusted", "x/IMG_E.JPG", C),
        ("adjusted_video", "x/IMG_E.MOV", B),
    ]  # medium and thumb are Apple's derivatives: never archived
    assert not job.is_local_altered


def test_nas_plan_skips_undownloaded_and_marks_compressed() -> None:
    assert plan_nas_job("1" * 32, MediaState()) is None
    state = MediaState(local_relpath="p", sha256=A, compression_tier="t1",
                       resources_downloaded=(downloaded("original", "p", A),))
    job = plan_nas_job("1" * 32, state)
    assert job is not None and job.is_local_altered and len(job.files) == 1


def test_nas_verdict_verified_lists_each_resource_and_its_reread_hash() -> None:
    verdict = decide_asset_verdict(
        live_job(), [result("original", "copied", A, A), result("live_video", "adopted", B, B)],
        REREAD_METHOD, ADOPTED_METHOD,
    )
    assert verdict.outcome == "verified"
    assert verdict.files == (ResourceHash(key="original", sha256=A),
                             ResourceHash(key="live_video", sha256=B))


def test_nas_verdict_all_adopted_is_adopted_method() -> None:
    verdict = decide_asset_verdict(
        live_job(), [result("original", "adopted", A, A), result("live_video", "adopted", B, B)],
        REREAD_METHOD, ADOPTED_METHOD,
    )
    assert (verdict.outcome, verdict.method, verdict.is_copied) == ("verified", ADOPTED_METHOD,
                                                                    False)
    assert verdict.expected_sha256 == A  # NasVerified carries the original's sha256


def test_nas_verdict_any_copy_is_reread_method() -> None:
    verdict = decide_asset_verdict(
        live_job(), [result("original", "adopted", A, A), result("live_video", "copied", B, B)],
        REREAD_METHOD, ADOPTED_METHOD,
    )
    assert (verdict.outcome, verdict.method, verdict.is_copied) == ("verified", REREAD_METHOD,
                                                                    True)


def test_nas_verdict_live_video_mismatch_names_that_file() -> None:
    verdict = decide_asset_verdict(
        live_job(), [result("original", "verified", A, A), result("live_video", "mismatched", B, C)],
        REREAD_METHOD, ADOPTED_METHOD,
    )
    assert verdict.outcome == "mismatched"
    assert (verdict.expected_sha256, verdict.actual_sha256) == (B, C)
    assert "live_video x/IMG_HEVC.MOV" in verdict.detail and "IMG.HEIC:" not in verdict.detail


def test_nas_verdict_missing_copy_is_a_mismatch() -> None:
    verdict = decide_asset_verdict(
        live_job(), [result("original", "missing", A), result("live_video", "verified", B, B)],
        REREAD_METHOD, ADOPTED_METHOD,
    )
    assert verdict.outcome == "mismatched" and "missing on the NAS" in verdict.detail


def test_nas_verdict_failed_file_fails_the_asset() -> None:
    verdict = decide_asset_verdict(
        live_job(), [result("original", "failed", A)], REREAD_METHOD, ADOPTED_METHOD
    )
    assert verdict.outcome == "failed"


def test_nas_verdict_refuses_partial_results() -> None:
    with pytest.raises(ValueError):
        decide_asset_verdict(live_job(), [result("original", "copied", A, A)], REREAD_METHOD,
                             ADOPTED_METHOD)


@pytest.mark.parametrize(
    ("verified_at", "verified_sha", "status", "expected"),
    [
        (T - timedelta(days=29), A, "verified", True),
        (T - timedelta(days=30), A, "verified", True),
        (T - timedelta(days=30, seconds=1), A, "verified", False),
        (T, B, "verified", False),  # verified for other bytes (an older download)
        (None, None, "mismatched", False),
        (None, None, "copied", False),
    ],
)
def test_nas_copy_counts_only_while_recently_verified(
    verified_at: datetime | None, verified_sha: str | None, status: str, expected: bool
) -> None:
    state = MediaState(sha256=A, nas_status=status, nas_verified_sha256=verified_sha,
                       nas_verified_at_utc=verified_at, nas_id="nas1")
    assert is_nas_copy_current(state, T, timedelta(days=30), "nas1") is expected


@pytest.mark.parametrize(("mounted", "expected"), [("nas1", True), ("nas2", False), (None, False)])
def test_a_verification_counts_only_on_the_nas_it_was_made_on(
    mounted: str | None, expected: bool
) -> None:
    state = MediaState(sha256=A, nas_status="verified", nas_verified_sha256=A,
                       nas_verified_at_utc=T, nas_id="nas1")
    assert is_nas_copy_current(state, T, timedelta(days=30), mounted) is expected


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("30m", 1800),
                                               ("2h", 7200), ("1d", 86400), ("0.5h", 1800)])
def test_nas_duration_parses(text: str, seconds: float) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "-5m", "0", "soon", "nan"])
def test_nas_duration_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration_s(text)


def test_nas_facts_decided_on_a_stale_copy_hold_while_every_resource_is_the_same() -> None:
    state = MediaState(sha256=A, resources_downloaded=(
        downloaded("original", "x.HEIC", A), downloaded("alternative", "x.DNG", D)))
    files = (ResourceHash(key="original", sha256=A), ResourceHash(key="alternative", sha256=D))
    verified = NasVerified(originator_id=uuid4(), originator_version=2, timestamp=T, run_id="r",
                           sha256=A, method=REREAD_METHOD, files=files, nas_id="n")
    assert decide_facts_still_holding(state, [verified]) == [verified]
    twin_replaced = msgspec.structs.replace(state, resources_downloaded=(
        downloaded("original", "x.HEIC", A), downloaded("alternative", "x.DNG", C)))
    assert decide_facts_still_holding(twin_replaced, [verified]) == []
    mismatched = NasMismatched(originator_id=uuid4(), originator_version=2, timestamp=T,
                               run_id="r", expected_sha256=D, actual_sha256=C, detail="d",
                               nas_id="n")
    assert decide_facts_still_holding(state, [mismatched]) == [mismatched]
    assert decide_facts_still_holding(twin_replaced, [mismatched]) == []


def test_nas_mismatch_nothing_could_repair_is_new_once() -> None:
    state = MediaState(sha256=A)
    assert is_new_mismatch(state, "alternative x.DNG: missing; no good local source", "n")
    state.nas_status, state.nas_id = "mismatched", "n"
    state.last_error = "NAS copy mismatch: alternative x.DNG: missing; no good local source"
    assert not is_new_mismatch(state, "alternative x.DNG: missing; no good local source", "n")
    assert is_new_mismatch(state, "alternative x.DNG: missing; no good local source", "m")
    assert is_new_mismatch(state, "original x.HEIC: missing", "n")
