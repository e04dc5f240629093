"""The ffmpeg and ffprobe command lines ffmpeg-python builds (engine.compress.ffmpeg_cli)
against the ones the compress stage wrote by hand before (kept below as the reference): the
expected list for every tier and codec, the same options whatever their order, the output
file last, the very same encoded bytes, probe output and error messages, and the probe
command `ffmpeg.probe` itself would start."""

from __future__ import annotations

import hashlib
import itertools
import shutil
from pathlib import Path
from typing import Any

import ffmpeg
import msgspec
import pytest

from engine.compress.encoders import EncodeError, run_tool, video_argv
from engine.compress.ffmpeg_cli import probe_argv
from engine.compress.settings import CompressionSettings
from engine.compress.verify import VerifyError, probe_video
from tests.compress_media import VideoSpec, write_video

TIERS = CompressionSettings().tiers
CODECS = ("libx264", "libx265")
TAKEN = "2021-06-05T12:03:02.000000Z"
SRC, OUT = Path("/lib/2021/06/IMG_0001.MOV"), Path("/lib/2021/06/.IMG_0001.MOV.compress.tmp")


def hand_written_argv(
    program: str, source: Path, out: Path, settings: dict[str, Any], *, pix_fmt: str,
    creation_time: str | None,
) -> list[str]:
    """The command line the stage built by hand before ffmpeg-python built it."""
    codec = settings["codec"]
    ten_bit = "10" in pix_fmt and codec == "libx265"
    argv = [
        program, "-nostdin", "-y", "-v", "error", "-noautorotate", "-i", str(source),
        "-map", "0:v:0", "-map", "0:a?", "-c:v", codec, "-preset", settings["preset"],
        "-crf", str(settings["crf"]), "-pix_fmt", "yuv420p10le" if ten_bit else "yuv420p",
        "-fps_mode", "passthrough",
    ]
    if codec == "libx265":
        argv += ["-tag:v", "hvc1", "-x265-params", "log-level=error"]
    if settings["copy_audio"]:
        argv += ["-c:a", "copy"]
    else:
        argv += ["-c:a", "aac", "-b:a", f"{settings['audio_kbps']}k"]
    argv += ["-map_metadata", "0"]
    if creation_time:
        argv += ["-metadata", f"creation_time={creation_time}"]
    container = "mp4" if source.suffix.lower() in (".mp4", ".m4v") else "mov"
    return [*argv, "-movflags", "use_metadata_tags", "-f", container, str(out)]


def hand_written_probe(ffprobe: str, path: Path) -> list[str]:
    return [ffprobe, "-v", "error", "-count_packets", "-show_streams", "-show_format", "-of",
            "json", str(path)]


def tier_video(tier: str, codec: str, **changes: Any) -> dict[str, Any]:
    video = TIERS[tier].video
    assert video is not None
    settings: dict[str, Any] = msgspec.to_builtins(msgspec.structs.replace(video, codec=codec))
    return {**settings, **changes}


HEAD = ["ffmpeg", "-nostdin", "-y", "-v", "error", "-noautorotate", "-i", str(SRC),
        "-map", "0:v:0", "-map", "0:a?", "-f", "mov"]
X265 = ["-tag:v", "hvc1", "-x265-params", "log-level=error"]


def _options(codec: str, crf: str, preset: str) -> list[str]:
    return ["-c:a", "copy", "-c:v", codec, "-crf", crf, "-fps_mode", "passthrough",
            "-map_metadata", "0", "-metadata", f"creation_time={TAKEN}",
            "-movflags", "use_metadata_tags", "-pix_fmt", "yuv420p", "-preset", preset]


EXPECTED = {
    ("light", "libx264"): [*HEAD, *_options("libx264", "23", "fast"), str(OUT)],
    ("light", "libx265"): [*HEAD, *_options("libx265", "23", "fast"), *X265, str(OUT)],
    ("medium", "libx264"): [*HEAD, *_options("libx264", "26", "fast"), str(OUT)],
    ("medium", "libx265"): [*HEAD, *_options("libx265", "26", "fast"), *X265, str(OUT)],
    ("heavy", "libx264"): [*HEAD, *_options("libx264", "28", "medium"), str(OUT)],
    ("heavy", "libx265"): [*HEAD, *_options("libx265", "28", "medium"), *X265, str(OUT)],
}


def test_the_default_tiers_are_the_ones_listed_here() -> None:
    assert {tier for tier, _codec in EXPECTED} == set(TIERS)


@pytest.mark.parametrize(("tier", "codec"), sorted(EXPECTED))
def test_each_tier_and_codec_compiles_to_the_expected_command_line(tier: str, codec: str) -> None:
    argv = video_argv("ffmpeg", SRC, OUT, tier_video(tier, codec), pix_fmt="yuv420p",
                      creation_time=TAKEN)

    assert argv == EXPECTED[tier, codec]


def test_re_encoded_audio_ten_bit_hevc_mp4_and_no_creation_time() -> None:
    settings = tier_video("light", "libx265", copy_audio=False, audio_kbps=96)
    mp4 = SRC.with_suffix(".mp4")

    argv = video_argv("/opt/ff/ffmpeg", mp4, OUT, settings, pix_fmt="yuv420p10le",
                      creation_time=None)

    assert argv == [
        "/opt/ff/ffmpeg", "-nostdin", "-y", "-v", "error", "-noautorotate", "-i", str(mp4),
        "-map", "0:v:0", "-map", "0:a?", "-f", "mp4", "-b:a", "96k", "-c:a", "aac",
        "-c:v", "libx265", "-crf", "23", "-fps_mode", "passthrough", "-map_metadata", "0",
        "-movflags", "use_metadata_tags", "-pix_fmt", "yuv420p10le", "-preset", "fast",
        *X265, str(OUT),
    ]


# ffmpeg's global options, and the options that take no value; every other takes one.
GLOBAL = {"-nostdin", "-y", "-v"}
NO_VALUE = {"-nostdin", "-y", "-noautorotate"}


def as_ffmpeg_reads_it(argv: list[str]) -> tuple[Any, ...]:
    """A one-input, one-output command line as ffmpeg applies it: program, global options,
    input options, input, the maps in order, output options, output. Order matters only
    for the maps; an option given twice to one file would be a conflict and fails here."""
    globals_: dict[str, str | None] = {}
    files: list[dict[str, str | None]] = [{}]
    maps: list[str] = []
    names: list[str] = []
    rest = iter(argv[1:])
    for arg in rest:
        if not arg.startswith("-"):
            names.append(arg)
            files.append({})
            continue
        value = None if arg in NO_VALUE else next(rest)
        if arg == "-i":
            names.append(str(value))
            files.append({})
        elif arg == "-map":
            maps.append(str(value))
        else:
            target = globals_ if arg in GLOBAL else files[-1]
            assert arg not in target, f"{arg} given twice"
            target[arg] = value
    assert len(names) == 2 and files[-1] == {}, f"not one input and one output: {argv}"
    return argv[0], globals_, files[0], names[0], tuple(maps), files[1], names[1]


@pytest.mark.parametrize(("tier", "codec"), sorted(EXPECTED))
def test_every_variant_is_the_hand_written_command_in_another_order(
    tier: str, codec: str,
) -> None:
    variants = itertools.product(
        (True, False), ("yuv420p", "yuv420p10le", "yuvj420p"), (".MOV", ".mp4", ".m4v"),
        (TAKEN, None),
    )
    for copy_audio, pix_fmt, suffix, creation_time in variants:
        settings = tier_video(tier, codec, copy_audio=copy_audio)
        source = SRC.with_suffix(suffix)
        argv = video_argv("ffmpeg", source, OUT, settings, pix_fmt=pix_fmt,
                          creation_time=creation_time)
        before = hand_written_argv("ffmpeg", source, OUT, settings, pix_fmt=pix_fmt,
                                   creation_time=creation_time)

        assert as_ffmpeg_reads_it(argv) == as_ffmpeg_reads_it(before), argv
        assert argv[:5] == before[:5] and argv[-1] == before[-1] == str(OUT)


def test_the_reading_above_tells_a_changed_command_apart() -> None:
    argv = video_argv("ffmpeg", SRC, OUT, tier_video("light", "libx265"), pix_fmt="yuv420p",
                      creation_time=TAKEN)
    swapped_maps = [*argv]
    first, second = argv.index("0:v:0"), argv.index("0:a?")
    swapped_maps[first], swapped_maps[second] = "0:a?", "0:v:0"
    global_as_output_option = [*argv[:1], *argv[5:-1], "-v", "error", str(OUT)]

    assert as_ffmpeg_reads_it(swapped_maps) != as_ffmpeg_reads_it(argv)
    assert as_ffmpeg_reads_it(global_as_output_option) != as_ffmpeg_reads_it(argv)
    with pytest.raises(AssertionError, match="given twice"):
        as_ffmpeg_reads_it([*argv[:-1], "-crf", "30", str(OUT)])


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ffmpeg-cli") / "clip.MOV"
    write_video(path, VideoSpec(seconds=1.0, width=320, height=240, bitrate="2M",
                                creation_time=TAKEN))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(("codec", "copy_audio", "suffix"), [
    ("libx264", True, ".MOV"), ("libx264", False, ".mp4"),
    ("libx265", True, ".mp4"), ("libx265", False, ".MOV"),
])
def test_ffmpeg_writes_the_same_bytes_as_with_the_hand_written_command(
    clip: Path, tmp_path: Path, codec: str, copy_audio: bool, suffix: str,
) -> None:
    source = shutil.copyfile(clip, tmp_path / f"clip{suffix}")
    settings = tier_video("light", codec, copy_audio=copy_audio, preset="ultrafast")
    made, by_hand = tmp_path / "made.tmp", tmp_path / "by_hand.tmp"

    run_tool(video_argv("ffmpeg", source, made, settings, pix_fmt="yuv420p",
                        creation_time=TAKEN), 120)
    run_tool(hand_written_argv("ffmpeg", source, by_hand, settings, pix_fmt="yuv420p",
                               creation_time=TAKEN), 120)

    assert sha256(made) == sha256(by_hand)
    facts, src = probe_video(made, "ffprobe", 60), probe_video(source, "ffprobe", 60)
    assert (facts.frames, facts.rotation, facts.tags["creation_time"]) == (
        src.frames, src.rotation, TAKEN)
    assert src.frames == 30 and src.rotation != 0


def test_a_failing_encode_reports_the_same_error_as_before(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.MOV"
    garbage.write_bytes(b"not a video" * 100)
    settings = tier_video("light", "libx265")
    errors = []
    for build in (video_argv, hand_written_argv):
        with pytest.raises(EncodeError) as failed:
            run_tool(build("ffmpeg", garbage, tmp_path / "out.tmp", settings,
                           pix_fmt="yuv420p", creation_time=None), 60)
        errors.append(str(failed.value))

    assert errors[0] == errors[1]
    assert errors[0].startswith("ffmpeg exited 1: ") and "Invalid data" in errors[0]


def test_the_probe_command_is_the_one_ffmpeg_probe_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[list[str]] = []

    class Recorder:
        returncode = 0

        def __init__(self, args: list[str], **_kwargs: Any) -> None:
            started.append(args)

        def communicate(self) -> tuple[bytes, bytes]:
            return b"{}", b""

    monkeypatch.setattr(ffmpeg._probe.subprocess, "Popen", Recorder)
    ffmpeg.probe(str(SRC), cmd="/opt/ff/ffprobe", v="error", count_packets=None)

    assert started == [probe_argv("/opt/ff/ffprobe", SRC, {"v": "error", "count_packets": None})]


def test_the_probe_reads_the_same_json_and_fails_with_the_same_message(
    clip: Path, tmp_path: Path,
) -> None:
    options = {"v": "error", "count_packets": None}
    assert run_tool(probe_argv("ffprobe", clip, options), 60) == run_tool(
        hand_written_probe("ffprobe", clip), 60)
    garbage = tmp_path / "garbage.MOV"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(EncodeError) as by_hand:
        run_tool(hand_written_probe("ffprobe", garbage), 60)

    with pytest.raises(VerifyError) as failed:
        probe_video(garbage, "ffprobe", 60)

    assert str(failed.value) == f"ffprobe cannot read garbage.MOV: {by_hand.value}"
