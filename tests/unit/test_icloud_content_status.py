"""Which error a content GET's unexpected HTTP status becomes: one file's failure, or the run's."""

from __future__ import annotations

import pytest

from engine.icloud.content import content_status_error
from engine.icloud.port import ContentError, IcloudError, ResourceUnavailableError


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 422, 451])
def test_a_refused_file_is_a_per_file_content_error_naming_its_status(status: int) -> None:
    error = content_status_error(status)
    assert isinstance(error, ResourceUnavailableError)
    assert isinstance(error, ContentError)  # what the download stage records per file
    assert error.status == status
    assert f"HTTP {status}" in str(error)


def test_404_says_the_file_may_have_been_removed_or_reprocessed() -> None:
    assert "removed or re-processed" in str(content_status_error(404))


@pytest.mark.parametrize("status", [304, 600])
def test_a_status_outside_4xx_stays_an_icloud_error(status: int) -> None:
    error = content_status_error(status)
    assert type(error) is IcloudError
    assert not isinstance(error, ContentError)
