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
