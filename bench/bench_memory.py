"""Peak memory of the source-length-dependent steps (probe, transcribe, scenes) on a long source.

Target (issue "clip factory"): under 4 GB for a 6-hour source. Rendering is per clip and does not grow with the
source, so it is not part of this measurement. The source is a real N-hour recording: one minute of espeak-ng
speech followed by nine minutes of silence, looped, under a small moving test picture. The baseline printed
beside the peak is the memory of the decoded float32 audio alone (what faster-whisper must hold), so the ratio
shows how much the pipeline adds on top of the unavoidable part.

    .venv/bin/python bench/bench_memory.py --hours 6
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing

from clipper.errors import NoSpeechError
from clipper.ffmpeg import Command, Input, Output, run
from clipper.media import probe
from clipper.scenes import detect_scenes
from clipper.transcribe import TranscribeOptions, transcribe
from mcn.samples import build_script, generate_stream
from mcn.samples.scripts import DEV_EN
from mcn.whisper_model import resolve_model


def rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=float, default=6.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mcn-mem-"))
    speech = generate_stream(build_script(DEV_EN, products=1), work / "speech")
    period = 600.0
    loops = max(1, round(args.hours * 3600 / period))
    seconds = loops * period
    source = work / "long.mp4"
    t0 = time.perf_counter()
    run(
        Command(
            inputs=(
                Input(str(speech.video)),
                Input(f"testsrc2=s=320x180:r=5:d={seconds}", options=("-f", "lavfi")),
            ),
            # One speech block padded with silence to `period`, then repeated: speech every ten minutes.
            filter_complex=f"[0:a]aresample=16000,apad=whole_dur={period}[a1];"
            f"[a1]aloop=loop={loops - 1}:size={int(period * 16000)},atrim=0:{seconds}[a]",
            outputs=(
                Output(
                    str(source),
                    maps=("1:v", "[a]"),
                    options=(
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-crf",
                        "35",
                        "-g",
                        "50",
                        "-c:a",
                        "aac",
                        "-b:a",
                        "32k",
                        "-ar",
                        "22050",
                        "-ac",
                        "1",
                        "-movflags",
                        "+faststart",
                    ),
                ),
            ),
        ),
        subject=str(source),
    )
    print(
        f"generated {seconds / 3600:.1f} h source in {time.perf_counter() - t0:.0f} s "
        f"({source.stat().st_size / 1e6:.0f} MB)"
    )
    baseline_mb = seconds * 16000 * 4 / 2**20
    timings = {}
    t = time.perf_counter()
    info = probe(source)
    timings["probe"] = time.perf_counter() - t
    t = time.perf_counter()
    try:
        transcript = transcribe(source, TranscribeOptions(model=resolve_model("base")))
        words = len(transcript.words)
    except NoSpeechError as exc:
        words = 0
        print("no speech:", exc)
    timings["transcribe"] = time.perf_counter() - t
    t = time.perf_counter()
    cuts = detect_scenes(source)
    timings["scenes"] = time.perf_counter() - t
    # Only this process: ffmpeg children are started by fork+exec, so their ru_maxrss reports the parent's RSS at
    # fork time, not their own use (ffmpeg's own memory here is tens of MB).
    own = rss_mb(resource.RUSAGE_SELF)
    print(f"source {info.duration / 3600:.2f} h; {words} words; {len(cuts.cuts)} scene cuts")
    for name, secs in timings.items():
        print(f"  {name:<11} {secs:7.0f} s")
    print(
        f"peak RSS {own:.0f} MB (target < 4096 MB); the whole decoded float32 audio alone would be "
        f"{baseline_mb:.0f} MB -> ratio {own / baseline_mb:.2f}x"
    )


if __name__ == "__main__":
    main()
