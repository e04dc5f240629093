"""Typed front of ffmpeg-python (which has no type hints): ffmpeg and ffprobe command lines.

Invariants:
- ffmpeg-python only builds argument lists here; nothing here starts a process. The caller
  runs them (engine.compress.encoders.run_tool) with a timeout, stdin closed, a death signal
  tied to its parent and stderr kept for the error message. ffmpeg-python 0.2.0's `run()`
  and `probe()` offer none of these (`probe()` takes no timeout and waits for ever).
- An encode is one ffmpeg-python graph: `ffmpeg.input` with its input options, the streams
  selected from it (each becomes a `-map`, in the order given), `ffmpeg.output` with the
  container format and the output options, and `compile()`. The program's global options
  come right after the program name (compile's `cmd` list), not from `.global_args()` or
  `.overwrite_output()`, which 0.2.0 appends after the output file: the output file stays
  the last argument, where ffmpeg's usage puts it and where a stand-in encoder looks for it.
- ffmpeg-python writes an input's or output's options sorted by name. ffmpeg applies
  per-file options of different names regardless of their order, so the encode is the same
  as with any other order (the tests compare encoded bytes with a hand-ordered command).
- A probe's argument list is exactly the one `ffmpeg.probe(path, cmd, **options)` starts
  (the same ffmpeg-python function turns options into flags): ffprobe sees the same command
  as through `ffmpeg.probe`, under the caller's timeout.
- An option whose value is None is a flag without a value. Every returned element is a str.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import ffmpeg
from ffmpeg._utils import convert_kwargs_to_cmd_line_args

Options = Mapping[str, str | None]

# What ffmpeg.probe always asks for, ahead of the caller's options: JSON of the container
# and of every stream.
_PROBE_FLAGS = ("-show_format", "-show_streams", "-of", "json")


def encode_argv(
    program: str, global_options: Sequence[str], source: Path, out: Path, *,
    input_options: Options, streams: Sequence[str], output_format: str,
    output_options: Options,
) -> list[str]:
    """The ffmpeg command line of a one-input, one-output encode: `streams` are selectors
    of the input (`v:0`, `a?` ...), mapped to `out` in that order."""
    src: Any = ffmpeg.input(str(source), **input_options)
    graph = ffmpeg.output(
        *(src[selector] for selector in streams), str(out), format=output_format,
        **output_options,
    )
    return _strings(graph.compile(cmd=[program, *global_options]))


def probe_argv(program: str, path: Path, options: Options) -> list[str]:
    """The ffprobe command line `ffmpeg.probe(str(path), program, **options)` runs."""
    flags = convert_kwargs_to_cmd_line_args(dict(options))
    return [program, *_PROBE_FLAGS, *_strings(flags), str(path)]


def _strings(args: Iterable[Any]) -> list[str]:
    return [str(arg) for arg in args]
