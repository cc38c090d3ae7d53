"""When ``mcn up`` restarts a service that exited on its own: backoff, a stable run resets it, and giving up.

A service that exits (crashes, is killed, or ends) is started again after a delay: ``first_delay`` seconds, then
twice as long after each quick crash (one within ``stable_after`` seconds of its start), capped at ``max_delay``.
A service that ran for ``stable_after`` seconds before it exited starts over at ``first_delay``. After
``give_up_after`` quick crashes in a row it is left down with a message naming it, its last exit code and its
log; the rest of the stack keeps running and ``mcn up --check`` shows it as not running.

:class:`Restarts` is the bookkeeping on a monotonic clock (no processes), so the policy is testable in
milliseconds; :func:`supervise` applies it to the stack's processes, which :func:`spawn` starts (each in its own
session, dying with ``mcn up``) and :func:`stop` and :func:`sweep` end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from mcn.procs import alive, descendants

ROOT = Path(__file__).resolve().parents[1]  # the checkout: every service's working directory


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How ``mcn up`` restarts a service that exited.

    Attributes:
        first_delay: seconds before the first restart (and after a stable run).
        max_delay: the delay doubles per quick crash up to this.
        stable_after: a run this long (seconds) was not a quick crash: the delay and the count start over.
        give_up_after: quick crashes in a row after which the service is left down.
    """

    first_delay: float = 1.0
    max_delay: float = 60.0
    stable_after: float = 60.0
    give_up_after: int = 5


@dataclass(slots=True)
class Restarts:
    """One service's restart state: when its current process started, what the next delay is, how often it was
    restarted, and whether ``mcn up`` gave up on it."""

    started_at: float
    delay: float
    count: int = 0
    quick_crashes: int = 0
    restart_at: float | None = None
    last_exit: int | None = None
    last_ran: float = 0.0
    last_delay: float | None = None
    gave_up: bool = False

    @classmethod
    def begin(cls, now: float, policy: RestartPolicy) -> Restarts:
        return cls(started_at=now, delay=policy.first_delay)

    def exited(self, code: int, now: float, policy: RestartPolicy) -> float | None:
        """Record that the process exited with ``code`` at ``now``; the seconds until its restart, or ``None``
        when it crashed quickly ``give_up_after`` times in a row (then :attr:`gave_up` is set)."""
        self.last_exit, self.last_ran = code, now - self.started_at
        if self.last_ran >= policy.stable_after:
            self.quick_crashes, self.delay = 0, policy.first_delay
        else:
            self.quick_crashes += 1
            if self.quick_crashes >= policy.give_up_after:
                self.gave_up, self.restart_at = True, None
                return None
        wait = self.last_delay = self.delay
        self.delay = min(self.delay * 2, policy.max_delay)
        self.restart_at = now + wait
        return wait

    def due(self, now: float) -> bool:
        """A restart is waiting and its delay has passed."""
        return self.restart_at is not None and now >= self.restart_at

    def restarted(self, now: float) -> None:
        self.count += 1
        self.started_at, self.restart_at = now, None

    @property
    def state(self) -> str:
        """``running``, ``restarting`` (waiting out its delay) or ``gave up``."""
        if self.gave_up:
            return "gave up"
        return "restarting" if self.restart_at is not None else "running"


def exit_text(code: int | None) -> str:
    """``code 3``, or ``code -9 (SIGKILL)`` for a process killed by a signal."""
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"code {code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"code {code}"
    return f"code {code}"


# -- the processes ----------------------------------------------------------------------------------------------


# Runs before a service's command: die with mcn up (PR_SET_PDEATHSIG), unless mcn up is already gone.
_LAUNCHER = (
    "import ctypes, os, signal, sys\n"
    "try:\n    ctypes.CDLL(None).prctl(1, signal.SIGTERM)\n"
    "except Exception:\n    pass\n"
    "if os.getppid() != int(sys.argv[1]):\n    sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


@dataclass(frozen=True, slots=True)
class Service:
    """One thing ``mcn up`` runs (``argv``) or only reports (``argv`` empty: already running elsewhere).

    Attributes:
        name: short name, also the log file's (``<data dir>/logs/<name>.log``).
        argv: the command, its first item an executable path.
        env: added to the stack's environment for this service.
        url: what the operator opens.
        health_url: answers 200 when the service is up; ``None``: the process being alive is enough.
        note: one more line for the operator (a generated token, what it is for).
    """

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None
    health_url: str | None = None
    note: str = ""


@dataclass(slots=True)
class Running:
    """A service of the stack: its process (``None``: reported only), its log and its restart state."""

    service: Service
    proc: subprocess.Popen[bytes] | None  # None: reported only
    log: Path | None
    restarts: Restarts = field(default_factory=lambda: Restarts.begin(time.monotonic(), RestartPolicy()))


def spawn(service: Service, env: Mapping[str, str], logs: Path) -> Running:
    log = logs / f"{service.name}.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *service.argv],
            env={**env, **service.env},
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches mcn up only; it stops the services in order
        )
    return Running(service, proc, log)


def supervise(
    running: Sequence[Running], env: Mapping[str, str], logs: Path, policy: RestartPolicy, err: Console
) -> bool:
    """Restart the services that exited (after their backoff delay), one line each; give up on one that keeps
    crashing. Returns whether anything changed (``up.json`` is then rewritten)."""
    changed = False
    for item in running:
        proc, restarts, name = item.proc, item.restarts, item.service.name
        if proc is None or restarts.gave_up:
            continue
        now = time.monotonic()
        if restarts.restart_at is None and proc.poll() is not None:
            # what the dead service started may live on (re-parented here): end its process group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
            wait = restarts.exited(proc.returncode, now, policy)
            ran = f"after {restarts.last_ran:.0f} s"
            if wait is None:
                err.print(
                    f"[red]{name} exited with {exit_text(proc.returncode)} {ran}, {restarts.quick_crashes} times in a "
                    f"row within {policy.stable_after:g} s of starting: not restarting it again[/red] (see {item.log}; "
                    "the rest keeps running)"
                )
            else:
                err.print(
                    f"[yellow]{name} exited with {exit_text(proc.returncode)} {ran}: restarting in {wait:g} s[/yellow] "
                    f"(restart {restarts.count + 1}; log {item.log})"
                )
            changed = True
        elif restarts.due(now):
            item.proc = spawn(item.service, env, logs).proc
            restarts.restarted(now)
            changed = True
    return changed


def signal_tree(pids: Sequence[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop(running: Running, timeout: float) -> None:
    proc = running.proc
    if proc is None or proc.poll() is not None:
        return
    tree = [proc.pid, *descendants(proc.pid)]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        signal_tree([proc.pid, *descendants(proc.pid)], signal.SIGKILL)
        proc.wait(timeout=10)
    left = [pid for pid in tree if alive(pid)]
    signal_tree(left, signal.SIGTERM)


def sweep(timeout: float) -> None:
    """End every process still below this one (orphans re-parented here as the subreaper) and reap them."""
    left = descendants(os.getpid())
    signal_tree(left, signal.SIGTERM)
    end = time.monotonic() + timeout
    while any(alive(pid) for pid in left) and time.monotonic() < end:
        time.sleep(0.1)
    signal_tree([pid for pid in left if alive(pid)], signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
