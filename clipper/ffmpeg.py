"""A small typed builder for ffmpeg command lines, and a runner that turns failures into one-line errors.

We build argv lists, never shell strings: file names with spaces, quotes or CJK characters pass through intact,
and nothing a user types can become a shell command. The default binary is imageio-ffmpeg's static build
(ffmpeg 9 with libass and libx264); ``MCN_FFMPEG`` points at another one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import IO

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
    if on_progress is None:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, errors="replace", timeout=timeout)
        except OSError as exc:
            raise RenderError(subject, f"cannot start ffmpeg: {exc}") from exc
        except subprocess.TimeoutExpired as exc:
            raise RenderError(subject, f"ffmpeg timed out after {timeout:.0f}s") from exc
        _raise_on_failure(subject, done.returncode, done.stderr)
        return
    argv = [argv[0], "-progress", "pipe:1", "-nostats", *argv[1:]]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    except OSError as exc:
        raise RenderError(subject, f"cannot start ffmpeg: {exc}") from exc
    # stderr is drained on its own thread while stdout carries the progress: a source that makes ffmpeg print more
    # than a pipe's worth of warnings would otherwise block ffmpeg on stderr while we wait on stdout (a frozen bar).
    tail: deque[str] = deque(maxlen=200)
    assert proc.stdout is not None and proc.stderr is not None
    drain = threading.Thread(target=_drain, args=(proc.stderr, tail), daemon=True)
    drain.start()
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        proc.kill()

    watchdog = threading.Timer(timeout, expire) if timeout is not None else None
    if watchdog is not None:
        watchdog.daemon = True
        watchdog.start()
    progress = Progress()
    try:
        for line in proc.stdout:
            key, _, value = line.strip().partition("=")
            progress.raw[key] = value
            if key == "out_time_us" and value.isdigit():
                progress.out_seconds = int(value) / 1e6
            elif key == "progress":
                progress.done = value == "end"
                on_progress(progress)
        proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if watchdog is not None:
            watchdog.cancel()
        drain.join(timeout=5)
    if timed_out.is_set():
        raise RenderError(subject, f"ffmpeg timed out after {timeout:.0f}s")
    _raise_on_failure(subject, proc.returncode, "".join(tail))


def _drain(stream: IO[str], tail: deque[str]) -> None:
    for line in stream:
        tail.append(line)


def _raise_on_failure(subject: str, returncode: int, stderr: str | None) -> None:
    stderr = stderr or ""
    if returncode != 0:
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        raise RenderError(subject, f"ffmpeg failed: {lines[-1] if lines else f'exit code {returncode}'}")
