"""The web UI's pure decisions: the savings chart's geometry, why stages wait in words, the
recent runs' lines, the asset search form, and history facts in words (never a repr)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from engine import events as ev
from engine.history import HistoryEntry
from engine.status import StatusReport
from engine.web.assets import query_of
from engine.web.assets_words import entry_words, value_words
from engine.web.dashboard import Alarm, Extras, dashboard_of
from engine.web.dashboard_chart import HEIGHT, LEFT, TOP, savings_chart
from engine.web.dashboard_words import gate_words, stuck_words, waiting_words
from projections.dashboard import RunRow
from projections.icloud_bytes import IcloudStandings
from projections.worklists import StageSummary

MIB = 1024**2


def test_the_chart_has_a_point_per_month_and_series_at_its_exact_total() -> None:
    rows = [{"month": "2026-10", "compression_saved_total": 0, "icloud_freed_total": 3 * MIB},
            {"month": "2026-11", "compression_saved_total": 2 * MIB,
             "icloud_freed_total": 7 * MIB},
            {"month": "2026-12", "compression_saved_total": -5,
             "icloud_freed_total": 9 * MIB}]
    chart = savings_chart(rows)
    assert chart.empty is None
    freed = next(s for s in chart.series if s.key == "icloud_freed_total")
    assert [(p.month, p.total_bytes) for p in freed.points] == [
        ("2026-10", 3 * MIB), ("2026-11", 7 * MIB), ("2026-12", 9 * MIB)]
    assert [label for _y, label in chart.y_ticks] == ["0 MiB", "5 MiB", "10 MiB"]
    bottom = chart.y_ticks[0][0]
    saved = next(s for s in chart.series if s.key == "compression_saved_total")
    assert saved.points[0].y == bottom and saved.points[2].y == bottom  # never below 0
    assert freed.points[2].y == pytest.approx(TOP + (bottom - TOP) * 0.1)
    assert freed.points[0].x == LEFT and freed.points[0].y < HEIGHT
    assert freed.polyline.count(",") == 3
    assert freed.points[1].words == "7.0 MiB"
    assert chart.so_far == "saved by compression: -5 B; freed in iCloud: 9.0 MiB"


def test_a_chart_with_nothing_saved_is_a_sentence() -> None:
    assert savings_chart([]).empty == "Nothing saved or freed yet."
    zero = [{"month": "2026-12", "compression_saved_total": 0, "icloud_freed_total": 0}]
    assert savings_chart(zero).series == []
    one = savings_chart([{"month": "2026-12", "compression_saved_total": 1500,
                          "icloud_freed_total": 0}])
    assert [label for _y, label in one.y_ticks] == ["0 KiB", "1 KiB", "2 KiB"]


def test_reasons_read_as_words() -> None:
    assert gate_words("nas-unavailable") == "the NAS is not mounted (its marker is missing)"
    assert gate_words("live_video-not-on-nas") == "the live video has no verified NAS copy"
    assert gate_words("brand-new-code") == "brand new code"
    assert stuck_words("gate: too-recent").startswith("held back: too recent")
    assert stuck_words("failed: HTTP 503") == "failed: HTTP 503"
    assert stuck_words("failed: cut_body") == (
        "failed: the connection broke off every time (cut_body)")
    assert stuck_words("quarantined: served_size_mismatch").startswith(
        "quarantined: iCloud served another size")
    assert waiting_words("waiting-for-pixel").startswith("staged in the outbox, waiting")


def report(stages: list[StageSummary]) -> StatusReport:
    totals = dict.fromkeys(("assets", "downloaded", "downloaded_bytes", "nas_verified",
                            "google_verified", "compressed", "compression_saved_bytes",
                            "deleted_from_icloud", "icloud_freed_bytes", "with_problems"), 0)
    return StatusReport(totals=totals, stages=stages, failures=[], last_run=None,
                        ledger_position=3, nas_damage=[],
                        icloud=IcloudStandings({}, None, None))


def test_the_dashboard_joins_waiting_reasons_stuck_rows_runs_and_extra_alarms() -> None:
    stages = [StageSummary("download", 3, 3 * MIB, "2024-01-01T00:00:00+00:00"),
              StageSummary("album-move", 2, 2 * MIB, None),
              StageSummary("delete", 0, 0, None)]
    extras = Extras(
        runs=[RunRow("r1", "run", "2026-12-06T04:05:06+00:00", None, None, None),
              RunRow("r0", "download", "2026-12-05T04:05:06+00:00",
                     "2026-12-05T04:06:00+00:00", 16, "assets_failed")],
        waiting=[("download", "not downloaded yet", 2, 2 * MIB)],
        stuck=[{"stage": "download", "reason": "failed: HTTP 503", "assets": 1,
                "size_bytes": MIB}],
        over_time=[], alarms=[])
    board = dashboard_of(report(stages), replace(extras, alarms=[Alarm("plan waiting", False)]),
                         extra_alarms=[Alarm("first extra", True)])
    assert [a.text for a in board.alarms] == ["first extra", "plan waiting"]
    waiting = replace(report(stages), icloud_login="waiting for a 2FA code since 05:00")
    page_alarm = Alarm("Apple waits for a 2FA code: enter it here.", False, "/signin")
    folded = dashboard_of(waiting, replace(extras, alarms=[page_alarm]))
    assert [(a.text, a.link) for a in folded.alarms] == [
        ("waiting for a 2FA code since 05:00", "/signin")]  # said once, with the link
    assert dashboard_of(waiting, extras).alarms == [
        Alarm("waiting for a 2FA code since 05:00", False)]
    download, album_move, delete = board.stages
    assert download.reasons == [("not downloaded yet", 2, "2.0 MiB"),
                                ("failed: HTTP 503", 1, "1.0 MiB")]
    assert download.oldest == "2024-01-01"
    assert album_move.reasons == [(
        "ready: the next <code>photoledger album-move</code> adds them to DeletePending", 2,
        "2.0 MiB")]
    assert delete.reasons == []
    running, failed = board.runs
    assert running.outcome.startswith("unfinished") and not running.failed
    assert failed.outcome == "assets_failed (exit 16)" and failed.failed
    assert failed.started == "2026-12-05 04:05 UTC"
    assert board.chart is not None and board.chart.empty


def test_the_search_form_reads_a_day_or_a_range() -> None:
    form = {"name": "img", "day": "2024-06-02", "until": "", "album": ""}
    query = query_of(form)
    assert (query.day_from, query.day_to) == (date(2024, 6, 2), date(2024, 6, 2))
    ranged = query_of({**form, "until": "2024-06-09"})
    assert ranged.day_to == date(2024, 6, 9)
    assert query_of({**form, "day": "", "until": "2024-06-09"}).day_from is None
    with pytest.raises(ValueError, match="day: '2024-02-30' is not a day"):
        query_of({**form, "day": "2024-02-30"})
    with pytest.raises(ValueError, match="is before"):
        query_of({**form, "until": "2024-06-01"})
    assert query_of({"name": "", "day": "", "until": "", "album": ""}).is_empty


def test_history_values_are_words_never_reprs() -> None:
    when = datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    albums = {"A1": "Trips/Rome"}
    assert value_words("captured_at_utc", when, albums) == "2026-05-01 12:30 UTC"
    assert value_words("is_favorite", True, albums) == "yes"
    assert value_words("album_ids", ("A1", "A9"), albums) == (
        "Trips/Rome; an album the ledger never named (A9)")
    assert value_words("keywords", (), albums) == "none"
    assert value_words("filename", "a\x00b\x1b.jpg", albums) == "a\\x00b\\x1b.jpg"
    assert value_words("size_bytes", 1536, albums) == "1.5 KiB (1,536 bytes)"
    assert value_words("timezone_offset_s", -16200, albums) == "UTC-04:30"
    assert value_words("latitude_microdeg", 48858400, albums) == "48.858400°"
    versions = (ev.VersionFact(key="original", size_bytes=2 * MIB, checksum="c",
                               file_type="public.heic"),)
    assert value_words("versions", versions, albums) == "original 2.0 MiB (public.heic)"
    files = (ev.ResourceHash(key="original", sha256="ab" * 32),)
    assert value_words("files", files, albums) == f"original sha256 {'ab' * 32}"
    entry = HistoryEntry(3, "2026-05-01T12:30:00+00:00", "NasVerified", "f" * 32,
                         {"sha256": "ab" * 32, "method": "reread", "files": files,
                          "nas_id": None})
    words = entry_words(entry, albums, {"f" * 32: "backup-nas"})
    assert words.headline.startswith("Verified on the NAS")
    assert words.run == "backup-nas run ffffffff"
    assert [f.label for f in words.facts] == ["sha256", "method", "files"]  # None: left out
    assert "ResourceHash(" not in " ".join(f.value for f in words.facts)


def test_every_asset_fact_has_a_headline_in_words() -> None:
    """A new event class without words would show its Python name on the asset page."""
    from engine.events.base import AssetEvent
    from engine.web.assets_words import _HEADLINES

    def subclasses(cls: type) -> set[str]:
        found = set()
        for sub in cls.__subclasses__():  # the product's events, not other tests' own
            if sub.__module__.startswith("engine."):
                found |= {sub.__name__, *subclasses(sub)}
        return found

    assert ev.AdoptionDisproved.__name__ in subclasses(AssetEvent)
    assert subclasses(AssetEvent) - set(_HEADLINES) == set()
