"""Naming: icloudpd 1.32 compatibility on ordinary names, safety on any name (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.naming import (
    NAME_ID7,
    NamingInput,
    NamingPolicy,
    add_suffix,
    base_name,
    candidate_names,
    choose_free_name,
    fit_component,
    folder_for,
    id7,
    join_relpath,
    version_names,
)

PARIS = ZoneInfo("Europe/Paris")
POLICY = NamingPolicy(local_tz=UTC)
MASTER = "AY6c+BsE0jjaXx9tmVGJM1D2VcEO"


def info(filename: str, item_type: str = "public.jpeg", *, is_video: bool = False) -> NamingInput:
    return NamingInput(
        filename=filename,
        master_record_name=MASTER,
        item_type=item_type,
        captured_at_utc=datetime(2024, 5, 17, 23, 30, tzinfo=UTC),
        is_video=is_video,
    )


def names(filename: str, item_type: str, renditions: dict[str, str], **policy: object) -> dict:
    return version_names(
        info(filename, item_type), NamingPolicy(local_tz=UTC, **policy), renditions
    )  # type: ignore[arg-type]


def test_folder_uses_local_time_of_the_passed_zone() -> None:
    captured = datetime(2024, 5, 17, 23, 30, tzinfo=UTC)
    assert folder_for(captured, NamingPolicy(local_tz=UTC)) == "2024/05/17"
    assert folder_for(captured, NamingPolicy(local_tz=PARIS)) == "2024/05/18"


def test_flat_layout_and_custom_template() -> None:
    captured = datetime(2024, 5, 17, tzinfo=UTC)
    assert folder_for(captured, NamingPolicy(local_tz=UTC, folder_structure="none")) == ""
    assert (
        folder_for(captured, NamingPolicy(local_tz=UTC, folder_structure="{:%Y-%m}")) == "2024-05"
    )


def test_missing_and_ancient_dates_do_not_crash() -> None:
    assert folder_for(None, POLICY) == "1970/01/01"  # icloudpd's epoch fallback
    ancient = datetime(1, 1, 1, tzinfo=UTC)
    assert folder_for(ancient, NamingPolicy(local_tz=ZoneInfo("America/New_York"))) == "1/01/01"


def test_hostile_folder_template_cannot_climb_out() -> None:
    policy = NamingPolicy(local_tz=UTC, folder_structure="{:%Y}/../../etc/./x")
    folder = folder_for(datetime(2024, 1, 2, tzinfo=UTC), policy)
    assert ".." not in folder.split("/")
    assert folder.split("/")[0] == "2024"


def test_invalid_characters_become_underscores() -> None:
    name = base_name(info('a<b>c:d"e/f\\g|h?i*j\0k.jpg'), POLICY)
    assert name == "a_b_c_d_e_f_g_h_i_j_k.JPG"


def test_non_ascii_is_removed_unless_kept() -> None:
    assert base_name(info("Café.heic", "public.heic"), POLICY) == "Caf.HEIC"
    kept = NamingPolicy(local_tz=UTC, keep_unicode=True)
    assert base_name(info("Café.heic", "public.heic"), kept) == "Café.HEIC"


def test_extension_is_rewritten_from_the_uti_and_unknown_keeps_its_own() -> None:
    assert base_name(info("IMG_1.jpeg"), POLICY) == "IMG_1.JPG"
    assert base_name(info("IMG_2.dng", "com.adobe.raw-image"), POLICY) == "IMG_2.DNG"
    assert base_name(info("DSC_3.nrw", "com.nikon.nrw-raw-image"), POLICY) == "DSC_3.NRF"
    assert base_name(info("clip.mp4", "public.mpeg-4"), POLICY) == "clip.mp4"
    assert base_name(info("noext", "public.heic"), POLICY) == "noext.HEIC"


def test_live_photo_video_names() -> None:
    heic = names(
        "IMG_1.HEIC",
        "public.heic",
        {"original": "public.heic", "live_video": "com.apple.quicktime-movie"},
    )
    assert heic == {"original": "IMG_1.HEIC", "live_video": "IMG_1_HEVC.MOV"}
    jpg = names(
        "IMG_2.JPG",
        "public.jpeg",
        {"original": "public.jpeg", "live_video": "com.apple.quicktime-movie"},
    )
    assert jpg == {"original": "IMG_2.JPG", "live_video": "IMG_2.MOV"}


def test_a_real_video_keeps_its_name() -> None:
    video = version_names(
        info("IMG_3.MOV", "com.apple.quicktime-movie", is_video=True),
        POLICY,
        {"original": "com.apple.quicktime-movie", "medium": "com.apple.quicktime-movie"},
    )
    assert video == {"original": "IMG_3.MOV", "medium": "IMG_3-medium.MOV"}


def test_size_suffixes() -> None:
    result = names(
        "IMG_1.HEIC",
        "public.heic",
        {
            "original": "public.heic",
            "medium": "public.jpeg",
            "thumb": "public.jpeg",
            "adjusted": "public.jpeg",
        },
    )
    assert result == {
        "original": "IMG_1.HEIC",
        "medium": "IMG_1-medium.JPG",
        "thumb": "IMG_1-thumb.JPG",
        "adjusted": "IMG_1.JPG",  # no collision with the HEIC original: no suffix
    }
    colliding = names(
        "IMG_2.JPG",
        "public.jpeg",
        {"original": "public.jpeg", "adjusted": "public.jpeg", "alternative": "public.jpeg"},
    )
    assert colliding["adjusted"] == "IMG_2-adjusted.JPG"
    assert colliding["alternative"] == "IMG_2-alternative.JPG"
    raw_pair = names(
        "IMG_3.JPG",
        "public.jpeg",
        {"original": "public.jpeg", "alternative": "com.adobe.raw-image"},
    )
    assert raw_pair["alternative"] == "IMG_3.DNG"


def test_name_id7_matches_icloudpd() -> None:
    assert id7(MASTER) == "QVk2Yyt"
    policy = NamingPolicy(local_tz=UTC, file_match_policy=NAME_ID7)
    assert base_name(info("IMG_7409.JPG"), policy) == "IMG_7409_QVk2Yyt.JPG"


def test_size_dedup_candidates_then_stable_variants() -> None:
    found = candidate_names(
        "IMG_7409.JPG", declared_size_bytes=1884695, policy=POLICY, asset_key="abcdef0123"
    )
    assert found[:3] == ["IMG_7409.JPG", "IMG_7409-1884695.JPG", "IMG_7409-1884695_abcdef01.JPG"]
    assert found[3] == "IMG_7409-1884695_abcdef01-2.JPG"
    assert len(set(found)) == len(found)


@given(st.text(min_size=1, max_size=300), st.integers(0, 10**12))
@settings(max_examples=200, deadline=None)
def test_candidates_are_each_variant_cut_to_fit_and_all_distinct(stem: str, size: int) -> None:
    name = base_name(info(stem + ".jpg"), POLICY)
    found = candidate_names(name, declared_size_bytes=size, policy=POLICY, asset_key="abcdef0123")
    tagged = add_suffix(add_suffix(name, f"-{size}"), "_abcdef01")
    counted = [add_suffix(tagged, f"-{n}") for n in range(2, 100)]
    expected = [name, add_suffix(name, f"-{size}"), tagged, *counted]
    assert found == [fit_component(candidate) for candidate in expected]
    assert all(len(c.encode("utf-8", "surrogatepass")) <= 255 for c in found)


def test_two_assets_with_one_name_both_get_a_place() -> None:
    taken: set[str] = set()
    chosen = []
    for asset_key in ("aaaaaaaa11", "bbbbbbbb22", "cccccccc33"):
        candidates = candidate_names(
            "IMG_1.JPG", declared_size_bytes=100, policy=POLICY, asset_key=asset_key
        )
        name = choose_free_name(candidates, "2024/05/17", lambda rel: rel.casefold() in taken)
        assert name is not None
        taken.add(join_relpath("2024/05/17", name).casefold())
        chosen.append(name)
    assert chosen == ["IMG_1.JPG", "IMG_1-100.JPG", "IMG_1-100_cccccccc.JPG"]


def test_empty_hidden_and_dot_names() -> None:
    assert base_name(info("写真.HEIC", "public.heic"), POLICY) == "AY6c_BsE0jja.HEIC"
    assert base_name(info("", "public.heic"), POLICY) == "AY6c_BsE0jja.HEIC"
    assert base_name(info("..", "public.jpeg"), POLICY) == "AY6c_BsE0jja.JPG"
    assert base_name(info(".hidden.jpg"), POLICY) == "_hidden.JPG"


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = base_name(
        info("é" * 300 + ".heic", "public.heic"), NamingPolicy(local_tz=UTC, keep_unicode=True)
    )
    assert name.endswith(".HEIC")
    assert len(name.encode()) <= 200
    long_candidates = candidate_names(
        name, declared_size_bytes=10**15, policy=POLICY, asset_key="f" * 32
    )
    assert all(len(c.encode()) <= 255 for c in long_candidates)


def _assert_safe(relpath: str) -> None:
    path = PurePosixPath(relpath)
    assert not path.is_absolute()
    for part in relpath.split("/"):
        assert part not in {"", ".", ".."}
        assert not part.startswith(".")
        assert "\0" not in part and "\\" not in part
        assert len(part.encode("utf-8")) <= 255
    root = PurePosixPath("/library")
    assert (root / path).parts[: len(root.parts)] == root.parts


renditions = st.fixed_dictionaries(
    {"original": st.sampled_from(["public.heic", "public.jpeg", "public.png", "x.unknown"])},
    optional={
        "live_video": st.just("com.apple.quicktime-movie"),
        "medium": st.just("public.jpeg"),
        "adjusted": st.just("public.jpeg"),
        "alternative": st.sampled_from(["com.adobe.raw-image", "public.jpeg"]),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    filename=st.text(max_size=400),
    master=st.text(min_size=1, max_size=40),
    keep_unicode=st.booleans(),
    policy_name=st.sampled_from(["name-size-dedup-with-suffix", NAME_ID7]),
    template=st.sampled_from(["{:%Y/%m/%d}", "none", "{:%Y}/../{:%m}", "/{:%Y}//./x", "..{:%d}"]),
    offset_h=st.integers(min_value=-12, max_value=14),
    captured=st.none() | st.datetimes(timezones=st.just(UTC)),
    wanted=renditions,
    size=st.integers(min_value=0, max_value=10**15),
)
def test_any_input_gives_safe_deterministic_relpaths(
    *,
    filename: str,
    master: str,
    keep_unicode: bool,
    policy_name: str,
    template: str,
    offset_h: int,
    captured: datetime | None,
    wanted: dict[str, str],
    size: int,
) -> None:
    from datetime import timezone

    policy = NamingPolicy(
        local_tz=timezone(timedelta(hours=offset_h)),
        folder_structure=template,
        file_match_policy=policy_name,
        keep_unicode=keep_unicode,
    )
    subject = NamingInput(
        filename=filename,
        master_record_name=master,
        item_type=wanted["original"],
        captured_at_utc=captured,
        is_video=False,
    )
    first = version_names(subject, policy, wanted)
    assert first == version_names(subject, policy, wanted)
    folder = folder_for(captured, policy)
    assert folder == folder_for(captured, policy)
    for name in first.values():
        for candidate in candidate_names(
            name, declared_size_bytes=size, policy=policy, asset_key="0123456789abcdef"
        ):
            _assert_safe(join_relpath(folder, candidate))
