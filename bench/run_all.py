"""Run every benchmark in turn; each prints its own baseline measured in the same run and the ratio.

.venv/bin/python bench/run_all.py            # ASR, render, 60-min pipeline, 6-h memory, sandbox, plan
.venv/bin/python bench/run_all.py --quick    # 10-minute pipeline, 1-hour memory source, 2,000-account plan
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = [
        ["bench_asr.py"],
        ["bench_render.py"],
        ["bench_pipeline.py", "--minutes", "10" if args.quick else "60", "--clips", "5" if args.quick else "30"],
        ["bench_memory.py", "--hours", "1" if args.quick else "6"],
        ["bench_sandbox.py"],
        ["bench_vpdq.py"],
        ["bench_plan.py", "--accounts", "2000", "--clips", "24000"] if args.quick else ["bench_plan.py"],
        ["bench_publish_due_idle.py", "--minutes", "1" if args.quick else "3"],
    ]
    failed = 0
    for script, *rest in runs:
        print(f"\n=== {script} {' '.join(rest)}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script), *rest], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
