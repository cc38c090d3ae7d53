"""Wall time of ``mcn --help`` and of a few commands' first output, against baselines measured in the same run.

Each command runs ``--runs`` times in a fresh process (the median is printed); the baselines are ``python -c pass``
(the interpreter) and ``python -c "import typer"`` (the floor of any typer CLI). Targets (issue 12): ``mcn --help``
under 1 s and any command's first output under 2 s on the project machine.

    .venv/bin/python bench/bench_cli_start.py
    .venv/bin/python bench/bench_cli_start.py --runs 9
    # also time `mcn --help` of an older source tree (e.g. `git archive <commit> | tar -x -C /tmp/old`)
    .venv/bin/python bench/bench_cli_start.py --old-tree /tmp/old
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MCN = [sys.executable, "-c", "import sys; from mcn.cli import main; sys.argv[0] = 'mcn'; main()"]


def _median_wall(command: list[str], runs: int, env: dict[str, str], cwd: Path = ROOT) -> tuple[float, int]:
    """Median wall seconds of ``runs`` fresh runs of ``command`` to its exit, and the exit code of the last."""
    times, code = [], 0
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run(command, capture_output=True, env=env, cwd=cwd, timeout=300)
        times.append(time.perf_counter() - began)
        code = done.returncode
    return statistics.median(times), code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--old-tree", type=Path, help="A source tree whose `mcn --help` is timed too.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, MCN_DATA_DIR=tmp, COLUMNS="120")
        env.pop("PREFECT_API_URL", None)
        bad_csv = Path(tmp) / "bad.csv"
        bad_csv.write_text("handle\n", encoding="utf-8")  # no platform column: a usage error, exit 2
        cases = {
            "python -c pass": [sys.executable, "-c", "pass"],
            'python -c "import typer"': [sys.executable, "-c", "import typer"],
            "mcn --help": [*MCN, "--help"],
            "mcn publish --help": [*MCN, "publish", "--help"],
            "mcn clips make missing.mp4 --products no.csv": [
                *MCN,
                "clips",
                "make",
                "missing.mp4",
                "--products",
                "no.csv",
            ],
            "mcn accounts import bad.csv": [*MCN, "accounts", "import", str(bad_csv)],
            "mcn accounts list (empty database)": [*MCN, "accounts", "list"],
            "mcn doctor": [*MCN, "doctor"],
        }
        load = os.getloadavg()[0]
        print(f"{args.runs} runs each, median wall time; python {sys.version.split()[0]}; load {load:.2f}")
        if os.environ.get("PYTHONDONTWRITEBYTECODE"):  # every import compiles from source: several times slower
            print("PYTHONDONTWRITEBYTECODE is set: no bytecode cache (an installed mcn has one); unset it, with")
            print("PYTHONPYCACHEPREFIX=/tmp/pyc to keep the cache out of the tree, to measure what operators see")
        results = {name: _median_wall(command, args.runs, env) for name, command in cases.items()}
        if args.old_tree is not None:
            old_env = dict(env, PYTHONPATH=str(args.old_tree.resolve()))
            results["mcn --help (old tree)"] = _median_wall([*MCN, "--help"], args.runs, old_env, args.old_tree)
    floor = results['python -c "import typer"'][0]
    for name, (seconds, code) in results.items():
        print(f"{name:<48} {seconds:6.2f} s  exit {code}  {seconds / floor:5.1f}x import typer")
    help_s = results["mcn --help"][0]
    print(f"mcn --help: {help_s:.2f} s ({'under' if help_s < 1 else 'OVER'} the 1 s target)")


if __name__ == "__main__":
    main()
