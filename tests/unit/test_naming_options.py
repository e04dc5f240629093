"""icloudpd's naming options (live-photo MOV policy, id7, flat and dated folders, unicode) as
pure names, their config keys and flags, and import-existing's decisions on a fake disk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine import events as ev
from engine.download.fetch import NameRegistry
from engine.download.plan import downloaded_facts, plan_files
from engine.errors import ConfigError
from engine.import_existing_plan import FileInfo, decide_asset
from engine.naming import NAME_ID7, NamingInput, NamingPolicy, folder_for, version_names
from engine.naming_settings import with_naming_flags
from tests.factories import Library, discover, new_run

MASTER = "AY6c+BsE0jjaXx9tmVGJM1D2VcEO"
LIVE = {"original": "public.heic", "live_video": "com.apple.quicktime-movie"}
JPEG_LIVE = {"original": "public.jpeg", "live_video": "com.apple.quicktime-movie"}


def names(filename: str, renditions: dict[str, str], **policy: object) -> dict[str, str]:
    info = NamingInput(filename, MASTER, renditions["original"],
                       datetime(2024, 5, 17, 23, 30, tzinfo=UTC), False)
    return version_names(info, NamingPolicy(local_tz=UTC, **policy), renditions)  # type: ignore[arg-type]


@pytest.mark.parametrize(("policy", "heic", "jpeg"), [
    ("suffix", "IMG_1_HEVC.MOV", "IMG_1.MOV"),
    ("original", "IMG_1.MOV", "IMG_1.MOV"),
])
def test_live_photo_mov_filename_policy(policy: str, heic: str, jpeg: str) -> None:
    assert names("IMG_1.HEIC", LIVE, live_photo_mov_filename_policy=policy)["live_video"] == heic
    assert names("IMG_1.JPG", JPEG_LIVE, live_photo_mov_filename_policy=policy)[
        "live_video"] == jpeg


def test_name_id7_with_the_original_mov_policy_names_both_halves_alike() -> None:
    assert names("IMG_1.HEIC", LIVE, file_match_policy=NAME_ID7,
                 live_photo_mov_filename_policy="original") == {
        "original": "IMG_1_QVk2Yyt.HEIC", "live_video": "IMG_1_QVk2Yyt.MOV"}


def test_unicode_kept_or_removed() -> None:
    assert names("Café☕.JPG", {"original": "public.jpeg"})["original"] == "Caf.JPG"
    assert names("Café☕.JPG", {"original": "public.jpeg"}, keep_unicode=True)[
        "original"] == "Café☕.JPG"


@pytest.mark.parametrize(("template", "folder"), [
    ("{:%Y/%m/%d}", "2024/05/17"), ("none", ""), ("{:%Y-%m}", "2024-05"),
    ("{0:%Y}/{0:%B}", "2024/May"),
])
def test_folder_structures(template: str, folder: str) -> None:
    moment = datetime(2024, 5, 17, 12, tzinfo=UTC)
    assert folder_for(moment, NamingPolicy(local_tz=UTC, folder_structure=template)) == folder


def test_flags_override_the_config_and_bad_values_name_the_key_and_choices(
    library: Library,
) -> None:
    config = with_naming_flags(library.config, {
        "folder_structure": "none", "file_match_policy": None,
        "live_photo_mov_filename_policy": "original", "keep_unicode_in_filenames": True,
    })
    settings = config.settings.library
    assert (settings.folder_structure, settings.live_photo_mov_filename_policy) == (
        "none", "original")
    assert settings.keep_unicode_in_filenames and library.config.settings.library.folder_structure
    assert with_naming_flags(library.config, {"folder_structure": None}) is library.config
    with pytest.raises(ConfigError, match=r"live_photo_mov_filename_policy.*suffix, original"):
        with_naming_flags(library.config, {"live_photo_mov_filename_policy": "both"})
    with pytest.raises(ConfigError, match=r"library\.folder_structure"):
        with_naming_flags(library.config, {"folder_structure": "{:%Y"})


def test_config_keys_are_checked_at_load(library: Library) -> None:
    from engine.config import load_config

    text = library.config_path.read_text()
    for line, value, choices in [
        ("live_photo_mov_filename_policy: suffix", "hevc", "suffix, original"),
        ("domain: com", "de", "com, cn"),
        ("max_retries: 5", "-1", "between 0 and 20"),
        ("retry_delay_s: 1.0", "0", "above 0"),
    ]:
        key = line.partition(":")[0]
        assert line in text
        library.config_path.write_text(text.replace(line, f"{key}: {value}"))
        with pytest.raises(ConfigError, match=f"{key}: must .*{choices}"):
            load_config(library.config_path)
    library.config_path.write_text(text)


def test_a_changed_naming_option_never_renames_or_refetches_a_downloaded_file() -> None:
    run = new_run()
    asset = discover(run, 1)
    asset.record(ev.Downloaded, run.id.hex, **downloaded_facts(
        "original", "2024/05/17/IMG_0001.HEIC", asset.state.declared_size_bytes, "a" * 64,
        asset.state.remote_checksum))
    for policy in (NamingPolicy(local_tz=UTC, folder_structure="none"),
                   NamingPolicy(local_tz=UTC, file_match_policy=NAME_ID7)):
        assert plan_files(asset.state, None, asset_key="k", sizes=("original",),
                          policy=policy) == []
    assert asset.state.local_relpath == "2024/05/17/IMG_0001.HEIC"


class FakeDisk:
    """Paths -> (size, inode); one device."""

    def __init__(self, files: dict[Path, tuple[int, int]], same: bool = False) -> None:
        self.files, self.same, self.device = files, same, 1

    def info(self, path: Path) -> FileInfo | None:
        if path == Path("/lib"):
            return FileInfo(0, False, (1, 1))
        found = self.files.get(path)
        device = self.device if path.is_relative_to("/tree") else 1
        return FileInfo(found[0], True, (device, found[1])) if found else None

    def same_bytes(self, first: Path, second: Path) -> bool:
        return self.same and first != second


def decide(disk: FakeDisk, *, tree: str = "/tree", held: dict[str, str] | None = None,
           hidden: bool = False, **policy: object) -> list[tuple[str, str | None, str]]:
    run = new_run()
    asset = discover(run, 1, captured_at_utc=datetime(2024, 5, 17, 12, tzinfo=UTC),
                     is_hidden=hidden)
    decision = decide_asset(
        "a" * 32, asset.state, tree=Path(tree), library_root=Path("/lib"),
        policy=NamingPolicy(local_tz=UTC, **policy),  # type: ignore[arg-type]
        resources=("original",), registry=NameRegistry(held or {}), probe=disk,
        hidden_apart=hidden,
    )
    return [(f.label, f.placement, f.reason) for f in decision.files]


SIZE = 1_000_001  # tests.factories.discover(…, 1)


def test_import_decisions_on_names_sizes_and_places() -> None:
    plain = "2024/05/17/IMG_0001.HEIC"
    assert decide(FakeDisk({Path("/tree") / plain: (SIZE, 7)})) == [(plain, "link", "")]
    twin = "2024/05/17/IMG_0001-1000001.HEIC"
    other = {Path("/tree") / plain: (5, 7), Path("/tree") / twin: (SIZE, 8)}
    assert decide(FakeDisk(other)) == [(twin, "link", "")]
    old = "2024/05/17/IMG_0001-original.HEIC"
    assert decide(FakeDisk({Path("/tree") / old: (SIZE, 9)})) == [(old, "link", "")]
    cut = decide(FakeDisk({Path("/tree") / plain: (100, 7)}))
    assert cut[0][1] is None and "100 bytes, iCloud declares 1000001" in cut[0][2]
    id7 = "2024/05/17/IMG_0001_QVowMDA.HEIC"  # base64("AZ00000001master...")[:7]
    assert decide(FakeDisk({Path("/tree") / id7: (SIZE, 7)}), file_match_policy=NAME_ID7) == [
        (id7, "link", "")]
    assert decide(FakeDisk({Path("/tree") / twin: (SIZE, 8)}), file_match_policy=NAME_ID7)[0][
        1] is None
    in_place = FakeDisk({Path("/lib") / plain: (SIZE, 7)})
    assert decide(in_place, tree="/lib") == [(plain, "in_place", "")]
    clash = {Path("/tree") / plain: (SIZE, 7), Path("/lib") / plain: (SIZE, 3)}
    assert decide(FakeDisk(clash, same=True)) == [(plain, "in_place", "")]
    assert "library already holds another file" in decide(FakeDisk(clash))[0][2]
    other_device = FakeDisk({Path("/tree") / plain: (SIZE, 7)})
    other_device.device = 2  # the tree on another file system: a durable copy
    assert decide(other_device) == [(plain, "copy", "")]
    assert decide(FakeDisk({Path("/tree") / plain: (SIZE, 7)}), hidden=True) == [
        (f"Hidden/{plain} (from {plain})", "link", "")]  # selection.hidden: separate
    held = decide(FakeDisk({Path("/tree") / plain: (SIZE, 7)}), held={plain: "b" * 32})
    assert held[0][1] is None and "belongs to another asset" in held[0][2]



@pytest.mark.parametrize("filename", ["IMG_1.JPG", "IMG_1.CR2"])
def test_a_raw_pair_has_the_same_two_names_under_every_alignment(filename: str) -> None:
    """icloudpd's --align-raw swaps which half is `original`: the file names do not change."""
    raw, jpeg = "com.canon.cr2-raw-image", "public.jpeg"
    as_is = names(filename, {"original": jpeg, "alternative": raw})
    swapped = names(filename, {"original": raw, "alternative": jpeg})
    assert set(as_is.values()) == set(swapped.values()) == {"IMG_1.JPG", "IMG_1.CR2"}


def test_a_size_icloud_does_not_offer_is_skipped_never_replaced() -> None:
    """icloudpd's --force-size, always: no medium, no substitute; the original is archived."""
    from engine.download.plan import renditions_to_fetch

    asset = discover(new_run(), 2)
    fetched = renditions_to_fetch(asset.state, None, ("medium", "thumb"))
    assert [v.key for v in fetched] == ["original"]


def test_the_live_video_is_named_from_the_name_icloud_holds_as_icloudpd_does() -> None:
    """Seen with icloudpd 1.32.3 against the simulator: `a/b.jpg` of a HEIC live photo."""
    assert names("a/b.jpg", LIVE) == {"original": "a_b.HEIC", "live_video": "a_b.MOV"}
    assert names("IMG_2.heic", LIVE) == {"original": "IMG_2.HEIC", "live_video": "IMG_2_HEVC.MOV"}
    assert names("", LIVE)["live_video"] == "AY6c_BsE0jja_HEVC.MOV"  # fallback: the item type
    assert names("a/b.jpg", LIVE, file_match_policy=NAME_ID7)["live_video"] == "a_b_QVk2Yyt.MOV"


def test_icloudpds_own_names_where_photoledger_writes_another() -> None:
    """Seen in icloudpd 1.32.3's tree of the simulator: hidden-file names, a name that is
    all extension; photoledger looks for them but never writes them."""
    from engine.naming_raw import is_safe, raw_dedup_name, raw_version_names

    def raw(filename: str, renditions: dict[str, str], *, is_video: bool = False,
            **policy: object) -> dict[str, str]:
        info = NamingInput(filename, MASTER, renditions["original"], None, is_video)
        return raw_version_names(info, NamingPolicy(local_tz=UTC, **policy), renditions)  # type: ignore[arg-type]

    movie = {"original": "com.apple.quicktime-movie"}
    assert raw("../x.mov", movie, is_video=True) == {"original": ".._x.MOV"}
    assert raw(".jpg", {"original": "public.png"}) == {"original": ".jpg.PNG"}
    assert raw(".heic", LIVE) == {"original": ".heic.HEIC", "live_video": ".heic"}  # sic
    assert raw("..", {"original": "unknown.uti"}) == {"original": "..."}  # as icloudpd
    assert not any(is_safe(name) for name in ("", ".", "..", "a/b", "a\0b"))
    assert raw("IMG_1.HEIC", LIVE, file_match_policy=NAME_ID7) == {
        "original": "IMG_1_QVk2Yyt.HEIC", "live_video": "IMG_1_QVk2Yyt_HEVC.MOV"}
    assert raw_dedup_name(".._x.MOV", 42) == ".._x-42.MOV"
