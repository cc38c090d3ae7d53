"""A small typed builder for ffmpeg command lines, and a runner that turns failures into one-line errors.

We build argv lists, never shell strings: file names with spaces, quotes or CJK characters pass through intact,
and nothing a user types can become a shell command. The default binary is imageio-ffmpeg's static build
(ffmpeg 9 with libass and libx264); ``MCN_FFMPEG`` points at another one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from clipper.errors import RenderError


def locate_ffmpeg(override: str | None = None) -> str:
    """Return the ffmpeg binary to run: ``override``, then ``$MCN_FFMPEG``, then imageio-ffmpeg's static build."""
    return _locate(override or os.environ.get("MCN_FFMPEG") or None)


@lru_cache(maxsize=8)
def _locate(chosen: str | None) -> str:
    if chosen:
        found = shutil.which(chosen) or (chosen if Path(chosen).is_file() else None)
        if not found:
            raise RenderError(chosen, "ffmpeg binary not found (check MCN_FFMPEG)")
        return found
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def escape_filter_value(value: str) -> str:
    r"""Escape a value for use inside a filtergraph option (e.g. ``ass=filename=...``).

    Two levels apply: the option value (``:`` ``\`` ``'``) and the graph (``,`` ``;`` ``[`` ``]``). Quoting the
    value with ``'...'`` and escaping quotes handles both for paths we generate.
    """
    escaped = value.replace("\\", "\\\\").replace("'", r"'\\\''").replace(":", "\\:")
    return f"'{escaped}'"


@dataclass(frozen=True, slots=True)
class Input:
    """One ``-i`` input with the options that must precede it (fast seek goes here)."""

    path: str
    seek: float | None = None
    duration: float | None = None
    options: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        args: list[str] = list(self.options)
        if self.seek is not None:
            args += ["-ss", f"{self.seek:.3f}"]
        if self.duration is not None:
            args += ["-t", f"{self.duration:.3f}"]
        return [*args, "-i", self.path]


@dataclass(frozen=True, slots=True)
class Output:
    """One output file with its maps, codecs and metadata."""

    path: str
    maps: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()

    def argv(self) -> list[str]:
        args: list[str] = []
        for stream in self.maps:
            args += ["-map", stream]
        args += list(self.options)
        for key, value in self.metadata:
            args += ["-metadata", f"{key}={value}"]
        return [*args, self.path]


@dataclass(frozen=True, slots=True)
class Command:
    """A whole ffmpeg invocation: inputs, an optional filter graph, outputs."""

    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    filter_complex: str | None = None
    global_options: tuple[str, ...] = ("-hide_banner", "-nostdin", "-y", "-loglevel", "error")
    binary: str | None = None

    def argv(self) -> list[str]:
        args = [self.binary or locate_ffmpeg(), *self.global_options]
        for item in self.inputs:
            args += item.argv()
        if self.filter_complex is not None:
            args += ["-filter_complex", self.filter_complex]
        for out in self.outputs:
            args += out.argv()
        return args


@dataclass(slots=True)
class Progress:
    """Parsed ``-progress`` output: seconds of output written so far."""

    out_seconds: float = 0.0
    done: bool = False
    raw: dict[str, str] = field(default_factory=dict)


def run(
    command: Command | Sequence[str],
    *,
    subject: str,
    timeout: float | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> None:
    """Run ffmpeg; raise :class:`RenderError` naming ``subject`` with ffmpeg's last error line on failure.

    ``on_progress`` receives ffmpeg's ``-progress`` reports (about twice a second) while it runs.
    """
    argv = command.argv() if isinstance(command, Command) else list(command)
    if on_progress is not None:
        argv = [argv[0], "-progress", "pipe:1", "-nostats", *argv[1:]]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    except OSError as exc:
        raise RenderError(subject, f"cannot start ffmpeg: {exc}") from exc
    progress = Progress()
    try:
        if on_progress is not None and proc.stdout is not None:
            for line in proc.stdout:
                key, _, value = line.strip().partition("=")
                progress.raw[key] = value
                if key == "out_time_us" and value.isdigit():
                    progress.out_seconds = int(value) / 1e6
                elif key == "progress":
                    progress.done = value == "end"
                    on_progress(progress)
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise RenderError(subject, f"ffmpeg timed out after {timeout:.0f}s") from exc
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (stderr or "").splitlines() if ln.strip()]
        raise RenderError(subject, f"ffmpeg failed: {lines[-1] if lines else f'exit code {proc.returncode}'}")
