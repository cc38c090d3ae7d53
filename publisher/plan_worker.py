"""A helper process that builds post texts for part of a big plan while the planner builds and writes the rest.

Post text is the planner's main CPU cost (every title is screened against the price/urgency lexicons) and inserting
rows is the other; on a multi-core machine they overlap when a second process does part of the text. The planner
writes the jobs to a file, starts ``python -m publisher.plan_worker JOBS RESULTS`` and builds its own share
meanwhile; the worker writes one ``(title, caption, topics, hook_style)`` tuple per job. Both files sit in a
private temporary folder the planner created; pickle is fine there (both ends are this package).

Any failure (the worker cannot start, dies, or answers the wrong number of texts) is not an error: the planner
builds those texts itself, so a plan never depends on the helper.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from publisher.content import TextJob, build_post_text

log = logging.getLogger(__name__)
TextResult = tuple[str, str, tuple[str, ...], str]
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def build_texts(jobs: Sequence[TextJob]) -> list[TextResult]:
    """Title, caption, topics and hook style for each job (see :func:`publisher.content.build_post_text`)."""
    results: list[TextResult] = []
    for title, hook, product_name, product_niches, account_niches, persona, seed in jobs:
        text = build_post_text(
            title=title,
            hook=hook,
            product_name=product_name,
            product_niches=product_niches,
            account_niches=account_niches,
            persona=persona,
            variant_seed=seed,
        )
        results.append((text.title, text.caption, text.topics, text.hook_style))
    return results


class TextWorker:
    """One helper process working through ``jobs``; :meth:`results` waits for its answers (or ``None``)."""

    def __init__(self, jobs: Sequence[TextJob]) -> None:
        self._count = len(jobs)
        self._folder = tempfile.TemporaryDirectory(prefix="mcn-plan-")
        folder = Path(self._folder.name)
        self._jobs, self._results = folder / "jobs.pickle", folder / "texts.pickle"
        self._jobs.write_bytes(pickle.dumps(list(jobs), protocol=pickle.HIGHEST_PROTOCOL))
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p),
        }
        self._process: subprocess.Popen[bytes] | None
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "publisher.plan_worker", str(self._jobs), str(self._results)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            log.warning("plan text helper did not start (%s); building every text in the planner", exc)
            self._process = None

    def results(self, timeout: float = 600.0) -> list[TextResult] | None:
        """The texts, in job order, once the helper is done; ``None`` if it failed (the caller builds them)."""
        try:
            if self._process is None:
                return None
            try:
                _, stderr = self._process.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.communicate()
                log.warning("plan text helper took over %.0f s; building its texts in the planner", timeout)
                return None
            if self._process.returncode != 0 or not self._results.is_file():
                last = (stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
                log.warning("plan text helper failed (%s); building its texts in the planner", last[0][:300])
                return None
            texts: Any = pickle.loads(self._results.read_bytes())
            if not isinstance(texts, list) or len(texts) != self._count:
                log.warning(
                    "plan text helper answered %s texts for %d jobs; building them in the planner",
                    len(texts) if isinstance(texts, list) else "no",
                    self._count,
                )
                return None
            return texts
        finally:
            self._folder.cleanup()

    def close(self) -> None:
        """Stop the helper if it still runs (the planner failed) and remove its files."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.communicate()
        self._folder.cleanup()


def main(argv: Sequence[str]) -> int:
    gc.disable()  # like the planner: tens of thousands of live acyclic objects, nothing for the collector to find
    jobs_path, results_path = Path(argv[0]), Path(argv[1])
    jobs = pickle.loads(jobs_path.read_bytes())
    partial = results_path.with_suffix(".partial")
    partial.write_bytes(pickle.dumps(build_texts(jobs), protocol=pickle.HIGHEST_PROTOCOL))
    partial.replace(results_path)  # the planner never reads a half-written answer
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
