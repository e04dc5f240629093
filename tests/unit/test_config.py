"""Config: every mistake is one line naming the file, the line and the dotted key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError
from engine.library_init import render_config
from tests.factories import REPO_ROOT

GOOD = """\
library:
  root: ./library
icloud:
  username: jdoe@example.com
  session_dir: ./session
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "photoledger.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_minimal_config_gets_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    s = config.settings
    assert config.library_root == tmp_path / "library"  # relative to the config file
    assert config.state_dir == tmp_path / "library" / ".photoledger"
    assert s.library.folder_structure == "{:%Y/%m/%d}"
    assert s.library.file_match_policy == "name-size-dedup-with-suffix"
    assert s.ledger.url is None and s.cleanup.require == ("nas", "google")


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD.replace("  root: ./library", "  root: ./library\n  rot: x"))
    assert "line 3" in message and "library.rot" in message and "unknown key" in message


def test_wrong_type_names_key_and_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "nas:\n  max_verify_age_days: soon\n")
    assert "line 7" in message and "nas.max_verify_age_days" in message and "int" in message


def test_missing_required_value_names_section(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD.replace("  username: jdoe@example.com\n", ""))
    assert "icloud.username" in message and "missing" in message and "line 3" in message


def test_bad_choice_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "cleanup:\n  require: [nas, dropbox]\n")
    assert "cleanup.require[1]" in message and "line 7" in message and "dropbox" in message


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "nas: [unclosed\n")
    assert "not valid YAML" in message and "line" in message


def test_password_in_yaml_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, GOOD + "  password: hunter2\n")
    assert "icloud.password" in message and "PHOTOLEDGER_ICLOUD_PASSWORD" in message
    assert "hunter2" not in message


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="photoledger init"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("cleanup:\n  max_delete_fraction: 1.5\n", "cleanup.max_delete_fraction"),
        ("nas:\n  max_verify_age_days: 0\n", "nas.max_verify_age_days"),
        ("ledger:\n  url: mysql://x\n", "ledger.url"),
        ("cleanup:\n  keep_recent_days: -1\n", "cleanup.keep_recent_days"),
    ],
)
def test_out_of_range_values_name_their_key(tmp_path: Path, extra: str, key: str) -> None:
    assert key in error_of(tmp_path, GOOD + extra)


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "mapping" in error_of(tmp_path, "- just\n- a list\n")


def test_missing_folder_is_reported_with_its_key(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match=r"line 2: library.root: folder .* does not exist"):
        config.require_existing_dir("library.root", config.settings.library.root)


def test_config_example_is_the_init_template() -> None:
    example = (REPO_ROOT / "config.example.yaml").read_text()
    assert example == render_config(
        "/srv/photos/library", "jdoe@example.com", "/srv/photos/session", "/mnt/nas/photos"
    )


def test_init_template_loads_cleanly(tmp_path: Path) -> None:
    text = render_config(str(tmp_path / "lib"), "a@b.c", str(tmp_path / "s"))
    config = load_config(write(tmp_path, text))
    assert config.settings.icloud.username == "a@b.c"


def test_raw_conversion_is_off_unless_asked_and_checked_at_load(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, GOOD)).settings.compression.raw == "keep"
    assert load_config(write(tmp_path, GOOD + "compression:\n  raw: jpeg\n")).settings \
        .compression.raw == "jpeg"
    bad = error_of(tmp_path, GOOD + "compression:\n  raw: tiff\n")
    assert "line 7" in bad and "compression.raw" in bad and "tiff" in bad
    # The default tiers have no avif settings: developing RAW into AVIF could never happen.
    unset = error_of(tmp_path, GOOD + "compression:\n  raw: avif\n")
    assert "compression.raw" in unset and "needs avif settings in at least one tier" in unset
