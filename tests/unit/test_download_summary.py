"""DownloadSummary.describe_failures: a notification names only the kinds of failure that
happened, so a run whose only problem was an adopted file's comparison does not read as
"0 assets failed"."""

from __future__ import annotations

from engine.download.options import DownloadSummary


def test_only_the_failures_that_happened_are_named() -> None:
    summary = DownloadSummary()
    assert not summary.has_failures
    assert summary.describe_failures() == "no failures"
    summary.adopted_failed = 1
    assert summary.has_failures
    assert summary.describe_failures() == "1 adopted files not compared with iCloud's bytes"
    summary.partial, summary.failed, summary.quarantined = 1, 2, 1
    assert summary.describe_failures() == (
        "3 assets failed, 1 assets quarantined, 1 adopted files not compared with iCloud's bytes")


def test_the_error_line_names_each_kind_of_failure_and_where_to_look() -> None:
    summary = DownloadSummary(partial=1, failed=1, quarantined=0, sidecars_failed=2)
    line = summary.failure_message()
    assert line.startswith("2 assets failed and 0 were quarantined, and 2 sidecars could not")
    assert "adopted" not in line and line.endswith("the next run retries the failures")
    assert "`photoledger report failures`" in line
