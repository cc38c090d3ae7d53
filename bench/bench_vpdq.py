"""vPDQ hashing speed (``clipper.vpdq.hash_video``): seconds per video for the sandbox bench's tiny upload and for
typical posts (20 s at 540x960, 30 s at 1080x1920, 25 fps), against a decode-only pass over the same file in the
same run (the part no frame hash can skip: 1 fps sampling still decodes every frame of an inter-coded stream).

    .venv/bin/python bench/bench_vpdq.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clipper.ffmpeg import Command, Input, Output, run  # noqa: E402
from clipper.vpdq import hash_video  # noqa: E402

CASES = (  # name, lavfi source, seconds
    ("sandbox bench upload 96x160 1 s 10 fps", "life=seed=3:ratio=0.35:mold=0:size=96x160:rate=10", 1.0),
    ("post 540x960 20 s 25 fps", "testsrc2=size=540x960:rate=25", 20.0),
    ("post 1080x1920 30 s 25 fps", "testsrc2=size=1080x1920:rate=25", 30.0),
)


def make(path: Path, spec: str, seconds: float) -> Path:
    run(
        Command(
            inputs=(Input(spec, options=("-f", "lavfi"), duration=seconds),),
            outputs=(Output(str(path), options=("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")),),
        ),
        subject=str(path),
    )
    return path


def decode_only(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def timed(fn: object, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcn-bench-vpdq-") as tmp:
        for n, (name, spec, seconds) in enumerate(CASES):
            path = make(Path(tmp) / f"v{n}.mp4", spec, seconds)
            decode = timed(lambda p=path: decode_only(p), args.repeat)
            hashed = timed(lambda p=path: hash_video(p), args.repeat)
            frames = hash_video(path).sampled
            print(
                f"{name}: vPDQ {hashed * 1000:.1f} ms ({frames} frame hashes), decode only {decode * 1000:.1f} ms, "
                f"ratio {hashed / decode:.2f}; {seconds / hashed:.0f}x real time"
            )
    print(f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, median of {args.repeat})")


if __name__ == "__main__":
    main()
