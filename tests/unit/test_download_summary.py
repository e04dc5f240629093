"""DownloadSummary.failure_message: the download's error line and run's notification name
only the kinds of failure that happened, so a run whose only problem was an adopted file's
comparison does not read as "0 assets failed"."""

from __future__ import annotations

from engine.download.options import DownloadSummary


def test_only_the_failures_that_happened_are_named() -> None:
    summary = DownloadSummary()
    assert not summary.has_failures
    summary.adopted_failed = 1
    assert summary.has_failures
    line = summary.failure_message()
    assert line.startswith("the adopted files of 1 assets could not be compared with iCloud's")
    assert "assets failed" not in line and "quarantined" not in line
    summary.partial, summary.failed, summary.quarantined = 1, 2, 1
    assert summary.failure_message().startswith(
        "3 assets failed and 1 were quarantined, and the adopted files of 1 assets")


def test_the_error_line_names_each_kind_of_failure_and_where_to_look() -> None:
    summary = DownloadSummary(partial=1, failed=1, quarantined=0, sidecars_failed=2)
    line = summary.failure_message()
    assert line.startswith("2 assets failed and 0 were quarantined, and 2 sidecars could not")
    assert "adopted" not in line and line.endswith("the next run retries the failures")
    assert "`photoledger report failures`" in line
