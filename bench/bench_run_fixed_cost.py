"""Fixed cost of a ``mcn clips make`` run: seconds from the command's start to its first step finishing (the probe),
with and without a Prefect server, against ``python -c "import prefect"`` measured in the same run.

The input is tiny (a 10 s 320x240 lavfi video, a three-line SRT via ``--transcript`` so no ASR, one product), so
what is timed is the start-up: imports, finding the Prefect API (and creating the flow run when there is one),
opening the database, the probe. Modes, each ``--runs`` times in a fresh process, interleaved (the median is
printed, with the CPU seconds of the whole command, children included, and whether Prefect was imported by then):

- ``no server``: no ``PREFECT_API_URL`` and no ``mcn up``: the pipeline runs in-process without Prefect
  (``mcn.clips_pipeline``); an untimed warm-up run goes first;
- ``mcn up``: no ``PREFECT_API_URL``, but ``<data dir>/up.json`` names a running server (as ``mcn up`` writes it);
- ``PREFECT_API_URL``: the same running server set in the environment.

Bytecode: an installed package has its ``.pyc`` files, but this machine's sessions run with
``PYTHONDONTWRITEBYTECODE=1`` and none in the venv, so every process compiles every module it imports (about half
of an import's CPU here). By default the timed processes share a bytecode cache (``PYTHONPYCACHEPREFIX`` in the
run's temporary folder, filled by an untimed warm-up run of each mode), as on an installed machine;
``--no-bytecode-cache`` keeps the environment as it is (every process compiles).

The server is ``prefect server start`` on a free loopback port, stopped at the end. Target (issue 12): without
``PREFECT_API_URL`` the fixed cost stays under 5 s. ``--old-tree DIR`` also times the no-server mode of an older
source tree (``git archive <commit> | tar -x -C DIR``; before mcn.clips_pipeline that started a temporary server,
whose SQLite under ``PREFECT_HOME`` the warm-up run migrates).

    .venv/bin/python bench/bench_run_fixed_cost.py
    .venv/bin/python bench/bench_run_fixed_cost.py --runs 3 --old-tree /tmp/old
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Runs the CLI in-process and writes to argv[2], when the first step reports it finished, the seconds from T0
# (argv[1]), whether Prefect is imported by then and the process's CPU seconds so far.
PROBE = """
import sys, time
t0, first = float(sys.argv[1]), sys.argv[2]
from mcn import progress
plain = progress.set_sink
def set_sink(sink):
    if sink is None:
        return plain(None)
    seen = []
    def timed(step, fraction, detail):
        if not seen and fraction >= 1.0:
            seen.append(step)
            with open(first, "w") as f:
                f.write(f"{time.time() - t0:.3f} {int('prefect' in sys.modules)} {time.process_time():.3f}")
        sink(step, fraction, detail)
    plain(timed)
progress.set_sink = set_sink
from mcn.cli import main
sys.argv = ["mcn", *sys.argv[3:]]
main()
"""

SRT = (
    "1\n00:00:00,500 --> 00:00:03,500\nThis kettle boils a litre in two minutes.\n\n"
    "2\n00:00:04,000 --> 00:00:07,500\nIt is only nineteen dollars today, link number one.\n\n"
    "3\n00:00:08,000 --> 00:00:09,500\nGrab it now before the price goes back up.\n"
)
PRODUCTS = "id,name,aliases,price,commission_rate,link\nkettle,kettle,,19,0.1,https://shop.example/p/kettle\n"


def _inputs(folder: Path) -> list[str]:
    from clipper.ffmpeg import locate_ffmpeg

    video = folder / "talk.mp4"
    subprocess.run(
        [
            locate_ffmpeg(),
            *("-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=10"),
            *("-f", "lavfi", "-i", "sine=frequency=300:duration=10", "-c:v", "libx264", "-preset", "ultrafast"),
            *("-c:a", "aac", "-shortest", str(video)),
        ],
        check=True,
    )
    (folder / "talk.srt").write_text(SRT, encoding="utf-8")
    (folder / "products.csv").write_text(PRODUCTS, encoding="utf-8")
    return [
        *(str(video), "--transcript", str(folder / "talk.srt"), "--products", str(folder / "products.csv")),
        *("--min-seconds", "3", "--max-seconds", "8"),
    ]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(api: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api}/health", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class Timed:
    """One ``mcn clips make``: wall seconds to its first step finishing, the process's CPU seconds by then, CPU
    seconds of the whole command (children too), and whether Prefect was imported when the first step finished."""

    first_step: float
    cpu_first: float
    cpu: float
    prefect: bool


def _first_step(env: dict[str, str], args: list[str], out: Path, tree: Path) -> Timed:
    """Time one ``mcn clips make`` to its first step's end (the run must succeed)."""
    first = out.with_suffix(".first")
    env = {**env, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.time()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(began), str(first), "clips", "make", *args, "--out", str(out)],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0 or not first.is_file():
        raise SystemExit(f"clips make failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    seconds, prefect, cpu_first = first.read_text().split()
    return Timed(float(seconds), float(cpu_first), cpu, prefect == "1")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--no-bytecode-cache", action="store_true", help="compile every module in every process (no .pyc cache)"
    )
    parser.add_argument("--old-tree", type=Path, help="also time the no-server mode of this source tree")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-fixed-cost-") as tmp:
        folder = Path(tmp)
        args = _inputs(folder)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MCN_"))}
        base |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "MCN_DATA_DIR": str(folder / "data")}
        if not options.no_bytecode_cache:
            base.pop("PYTHONDONTWRITEBYTECODE", None)
            base["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
        print(f"bytecode: {'compiled in every process' if options.no_bytecode_cache else 'cached (.pyc), warmed up'}")
        local_env = base | {"PREFECT_HOME": str(folder / "prefect-local")}
        up_data = folder / "data-up"
        up_data.mkdir()
        port = _free_port()
        api = f"http://127.0.0.1:{port}/api"
        server_env = base | {"PREFECT_HOME": str(folder / "prefect-server"), "PREFECT_UI_ENABLED": "0"}
        print(f"load average before: {_load()}")
        began = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            while not _answers(api):
                if server.poll() is not None or time.perf_counter() - began > 300:
                    raise SystemExit("prefect server start did not answer")
                time.sleep(0.5)
            print(f"prefect server start (fresh home, migrations): {time.perf_counter() - began:.1f} s to /health")
            (up_data / "up.json").write_text(json.dumps({"pid": server.pid, "prefect_api": api}))
            warm = _first_step(local_env, args, folder / "warm", ROOT)
            print(f"no server, first run (warm-up): {warm.first_step:.1f} s (not in the medians)")
            modes: dict[str, tuple[dict[str, str], Path]] = {
                "no server": (local_env, ROOT),
                "mcn up": (base | {"MCN_DATA_DIR": str(up_data)}, ROOT),
                "PREFECT_API_URL": (base | {"PREFECT_API_URL": api}, ROOT),
            }
            if options.old_tree is not None:
                # a data dir of its own: the older tree does not know this tree's newer migrations
                old_env = base | {"PREFECT_HOME": str(folder / "prefect-old"), "MCN_DATA_DIR": str(folder / "data-old")}
                old = _first_step(old_env, args, folder / "warm-old", options.old_tree.resolve())
                print(f"no server (old tree), first run (migrations): {old.first_step:.1f} s (not in the medians)")
                modes["no server (old tree)"] = (old_env, options.old_tree.resolve())
            if not options.no_bytecode_cache:  # fill the bytecode cache for every mode's imports
                subprocess.run([sys.executable, "-c", "import prefect"], env=base, check=True)
                for name, (env, tree) in modes.items():
                    if not name.startswith("no server"):  # (those had their warm-up run above)
                        _first_step(env, args, folder / f"warm-{name.replace(' ', '-')}", tree)
            prefect_seconds: list[float] = []
            prefect_cpu: list[float] = []
            timed: dict[str, list[Timed]] = {name: [] for name in modes}
            for n in range(options.runs):
                t, before = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
                subprocess.run([sys.executable, "-c", "import prefect"], env=base, check=True)
                prefect_seconds.append(time.perf_counter() - t)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                prefect_cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                for name, (env, tree) in modes.items():
                    timed[name].append(_first_step(env, args, folder / f"{name.replace(' ', '-')}-{n}", tree))
            baseline = statistics.median(prefect_seconds)
            print(f"\nmedian of {options.runs}, wall seconds from the command's start to its first step's end:")
            print(
                f"  {'import prefect':<24} {baseline:6.1f} s  {1.0:5.1f} x import prefect"
                f"  ({statistics.median(prefect_cpu):4.1f} CPU s)"
            )
            for name, values in timed.items():
                median = statistics.median(v.first_step for v in values)
                cpu_first = statistics.median(v.cpu_first for v in values)
                cpu = statistics.median(v.cpu for v in values)
                imported = "prefect imported" if any(v.prefect for v in values) else "no prefect"
                print(
                    f"  {name:<24} {median:6.1f} s  {median / baseline:5.1f} x import prefect"
                    f"  ({cpu_first:4.1f} CPU s by then, whole command {cpu:5.1f} CPU s; {imported})"
                )
            print(f"load average after: {_load()}  (target: no server < 5 s)")
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
