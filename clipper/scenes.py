"""Scene cuts with PySceneDetect, on a small proxy so a six-hour source stays cheap.

Decoding a 1080p recording at full rate just to find cuts would cost more than transcribing it. ffmpeg decodes
the source once with its fast paths (reference frames only, no loop filter) into a tiny low-rate proxy, and
PySceneDetect's content detector runs on that. Cut times are accurate to ``1 / sample_fps`` seconds, which is
enough: cuts are only *preferred* clip boundaries, snapped to the nearest pause in speech.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from clipper.errors import MediaError
from clipper.ffmpeg import Command, Input, Output, run


@dataclass(frozen=True, slots=True)
class SceneOptions:
    """Settings for :func:`detect_scenes`.

    ``threshold`` is PySceneDetect's ContentDetector threshold (its default, 27, suits live footage);
    ``min_scene_seconds`` ignores flicker; the proxy is ``proxy_width`` pixels wide at ``sample_fps``.
    """

    threshold: float = 27.0
    min_scene_seconds: float = 1.0
    sample_fps: float = 4.0
    proxy_width: int = 192
    ffmpeg: str | None = None


@dataclass(frozen=True, slots=True)
class SceneCuts:
    """Times (seconds in the source) where a new shot starts, ascending, excluding 0."""

    cuts: tuple[float, ...]
    sample_fps: float

    def nearest(self, t: float, window: float) -> float | None:
        """The cut closest to ``t`` within ``window`` seconds, if any."""
        best = None
        for cut in self.cuts:
            if abs(cut - t) <= window and (best is None or abs(cut - t) < abs(best - t)):
                best = cut
        return best


def detect_scenes(path: str | Path, options: SceneOptions | None = None) -> SceneCuts:
    """Find hard cuts in the video stream of ``path``.

    Args:
        path: a probed source with a video stream.
        options: see :class:`SceneOptions`.

    Returns:
        The cut times. A source with one continuous shot (typical for a livestream camera) has none.
    """
    from scenedetect import ContentDetector, detect

    opts = options or SceneOptions()
    with tempfile.TemporaryDirectory(prefix="mcn-scenes-") as tmp:
        proxy = Path(tmp) / "proxy.mp4"
        run(
            Command(
                inputs=(Input(str(path), options=("-skip_frame:v", "noref", "-skip_loop_filter:v", "all")),),
                outputs=(
                    Output(
                        str(proxy),
                        maps=("0:v:0",),
                        options=(
                            "-vf",
                            f"fps={opts.sample_fps},scale={opts.proxy_width}:-2:flags=fast_bilinear",
                            "-c:v",
                            "libx264",
                            "-preset",
                            "ultrafast",
                            "-crf",
                            "18",
                            "-pix_fmt",
                            "yuv420p",
                            "-an",
                        ),
                    ),
                ),
                binary=opts.ffmpeg,
            ),
            subject=str(path),
        )
        if not proxy.exists() or proxy.stat().st_size == 0:
            raise MediaError(str(path), "no video frames could be decoded for scene detection")
        min_frames = max(1, round(opts.min_scene_seconds * opts.sample_fps))
        scenes = detect(str(proxy), ContentDetector(threshold=opts.threshold, min_scene_len=min_frames), backend="pyav")
    cuts = tuple(round(start.seconds, 3) for start, _end in scenes[1:])
    return SceneCuts(cuts=cuts, sample_fps=opts.sample_fps)
