"""Reviewing clips in a terminal: one clip at a time, best first, with its transcript and each sentence's kind.

The reviewer types short commands (``?`` lists them): ``g``/``b REASON`` judge the clip and move on, ``k 12 selling``
corrects a sentence's kind, ``f 3``/``l 9`` move the clip's first/last sentence, ``q`` saves and quits. Labels are
saved per source after every verdict and on quit, so an interrupted review loses at most the last few kind edits.

:class:`ReviewSession` holds the state and applies commands; it does no I/O of its own except through the console
and the ``save`` and ``decide`` callables it is given, so the CLI and the tests drive it the same way.

A verdict also gates posting when the folder's run is in this database (:func:`posting_verdicts`): a bad clip is
rejected for posting (never planned; its posts still planned are cancelled with the reason), a good one approved
(a console project's clip that waits for approval may then be planned), as if judged in the console.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from clipper.labels import SENTENCE_KINDS, ClipVerdict, SourceLabels
from mcn.labels_store import ClipInfo, ClipsFolder, ReviewError, stamped, verdict_for, with_kind, with_verdict

__all__ = ["HELP", "KIND_STYLES", "ClipDecision", "ReviewSession", "ReviewSummary", "posting_verdicts", "resolve_kind"]

#: Carries a verdict to the posting plan: ``(clip id in clips.json, good, reason)`` -> a note for the reviewer.
ClipDecision = Callable[[str, bool, str], str]

KIND_STYLES = {
    "greeting": "cyan",
    "chatter": "dim",
    "transition": "magenta",
    "selling": "green",
    "price": "red",
    "reply": "yellow",
}
CONTEXT_SENTENCES = 2  # shown dimmed around the clip, so a boundary can be moved with the words in view

HELP = """commands (one per line):
  g [REASON]      good clip, next          b REASON      bad clip (reason required), next
  k N KIND        sentence N's kind: greeting chatter transition selling price reply (or g c t s p r)
  f N / l N       clip's first / last sentence is N      r N M     both at once
  n or Enter      next clip (no verdict)   p             previous clip
  t               show the clip again      ?             this help
  q               save and quit (end of input and Ctrl-C do the same)"""


@dataclass(frozen=True, slots=True)
class ReviewSummary:
    """What a review session ended with."""

    source: str
    reviewed: int
    good: int
    bad: int
    saved: bool


def resolve_kind(word: str) -> str:
    """A sentence kind from its name or a unique prefix (``s`` = selling, ``tr`` = transition).

    Raises:
        ReviewError: no kind, or more than one, starts with ``word``.
    """
    matches = [k for k in SENTENCE_KINDS if k.startswith(word.lower())] if word else []
    if len(matches) != 1:
        raise ReviewError(f"kind {word!r}", f"must be one of {', '.join(SENTENCE_KINDS)}")
    return matches[0]


class ReviewSession:
    """A terminal review of one clips folder. Not thread-safe: one reviewer, one terminal."""

    def __init__(
        self,
        folder: ClipsFolder,
        labels: SourceLabels,
        annotator: str,
        save: Callable[[SourceLabels], SourceLabels],
        console: Console,
        decide: ClipDecision | None = None,
    ) -> None:
        self.folder = folder
        self.labels = labels
        self.annotator = annotator
        self._save = save
        self._decide = decide
        self.console = console
        self.position = 0
        self.dirty = False
        self.saved_once = False
        # boundaries the reviewer moved before judging a clip; they become the verdict's range
        self._bounds: dict[str, tuple[int, int]] = {}

    # -- state -----------------------------------------------------------------------------------------------------

    @property
    def clip(self) -> ClipInfo:
        """The clip under review."""
        return self.folder.clips[self.position]

    def bounds(self, clip: ClipInfo) -> tuple[int, int]:
        """The clip's current first and last sentence: the verdict's, a pending edit's, or the planner's."""
        verdict = verdict_for(self.labels, clip.id)
        if clip.id in self._bounds:
            return self._bounds[clip.id]
        if verdict is not None:
            return verdict.first_sentence, verdict.last_sentence
        return clip.first_sentence, clip.last_sentence

    def save(self) -> None:
        """Store the labels if anything changed since the last save."""
        if self.dirty:
            self.labels = self._save(stamped(self.labels, self.annotator))
            self.dirty = False
            self.saved_once = True

    def summary(self) -> ReviewSummary:
        """Counts over the clips of this folder."""
        ids = {c.id for c in self.folder.clips}
        verdicts = [v for v in self.labels.clips if v.clip_id in ids]
        good = sum(v.good for v in verdicts)
        return ReviewSummary(self.folder.source, len(verdicts), good, len(verdicts) - good, self.saved_once)

    # -- the loop --------------------------------------------------------------------------------------------------

    def run(self, read: Callable[[str], str]) -> ReviewSummary:
        """Show each clip and apply commands read with ``read(prompt)`` until ``q``, the end of input or the end of
        the clips; saves on the way out."""
        if not self.folder.clips:
            self.console.print(f"no clips in {escape(str(self.folder.path))}")
            return self.summary()
        self.console.print(f"reviewing {len(self.folder.clips)} clips of {escape(self.folder.source)} (? for help)")
        self.show()
        try:
            while self.position < len(self.folder.clips):
                try:
                    line = read(f"clip {self.position + 1}/{len(self.folder.clips)}> ")
                except EOFError:
                    break
                if not self.handle(line):
                    break
        except KeyboardInterrupt:
            self.console.print()
        self.save()
        result = self.summary()
        self.console.print(
            f"saved labels of {escape(result.source)}: {result.reviewed} of {len(self.folder.clips)} clips reviewed "
            f"({result.good} good, {result.bad} bad)"
            if result.saved
            else "nothing changed, nothing saved"
        )
        return result

    def handle(self, line: str) -> bool:
        """Apply one command line; ``False`` when the review should end. Errors are printed, never raised."""
        words = line.strip().split(maxsplit=1)
        command = words[0].lower() if words else "n"
        rest = words[1].strip() if len(words) > 1 else ""
        try:
            return self._dispatch(command, rest)
        except ReviewError as err:
            self.console.print(f"[red]error:[/red] {escape(str(err))}", highlight=False)
            return True

    def _dispatch(self, command: str, rest: str) -> bool:
        if command == "q":
            return False
        if command == "?":
            self.console.print(escape(HELP), highlight=False)
        elif command in ("g", "b"):
            self._judge(command == "g", rest)
        elif command == "k":
            index, kind = _two(rest, "k N KIND (e.g. k 12 selling)")
            self.labels = with_kind(self.labels, _int(index, "sentence"), resolve_kind(kind))
            self.dirty = True
            self.show()
        elif command in ("f", "l"):
            first, last = self.bounds(self.clip)
            value = _int(rest, "sentence")
            self._set_bounds((value, last) if command == "f" else (first, value))
        elif command == "r":
            first_word, last_word = _two(rest, "r FIRST LAST (e.g. r 3 9)")
            self._set_bounds((_int(first_word, "first sentence"), _int(last_word, "last sentence")))
        elif command == "n":
            self._move(1)
        elif command == "p":
            self._move(-1)
        elif command == "t":
            self.show()
        else:
            raise ReviewError(f"command {command!r}", "unknown; ? lists the commands")
        return True

    def _judge(self, good: bool, reason: str) -> None:
        first, last = self.bounds(self.clip)
        verdict = ClipVerdict(self.clip.id, first, last, good, reason)
        self.labels = with_verdict(self.labels, verdict)
        self._bounds.pop(self.clip.id, None)
        self.dirty = True
        self.save()  # a verdict is the unit of work: never lose one
        posting = self._decide(self.clip.id, good, reason) if self._decide is not None else ""
        self.console.print(
            (f"{self.clip.id}: [green]good[/green]" if good else f"{self.clip.id}: [red]bad[/red] ({escape(reason)})")
            + (f"; {escape(posting)}" if posting else "")
        )
        self._move(1)

    def _set_bounds(self, bounds: tuple[int, int]) -> None:
        first, last = bounds
        count = len(self.labels.sentences)
        if not 0 <= first <= last < count:
            raise ReviewError(
                f"clip {self.clip.id}",
                f"boundaries must satisfy 0 <= first <= last <= {count - 1} (got {first}..{last})",
            )
        verdict = verdict_for(self.labels, self.clip.id)
        if verdict is not None:  # already judged: the verdict itself moves
            self.labels = with_verdict(self.labels, replace(verdict, first_sentence=first, last_sentence=last))
            self.dirty = True
        else:
            self._bounds[self.clip.id] = bounds
        self.show()

    def _move(self, step: int) -> None:
        self.position = max(self.position + step, 0)
        if self.position < len(self.folder.clips):
            self.show()

    # -- display ---------------------------------------------------------------------------------------------------

    def show(self) -> None:
        """Print the clip under review: file, times, hook, title, verdict, and its sentences with their kinds."""
        clip = self.clip
        first, last = self.bounds(clip)
        verdict = verdict_for(self.labels, clip.id)
        self.console.rule(f"clip {self.position + 1}/{len(self.folder.clips)}  {escape(clip.id)}")
        self.console.print(
            f"[bold]{escape(str(self.folder.path / clip.path))}[/bold]  "
            f"{clip.source_start:.1f}s - {clip.source_end:.1f}s "
            f"({clip.source_end - clip.source_start:.1f} s)  score {clip.score:.2f}  "
            f"product {escape(clip.product or '-')}",
            highlight=False,
        )
        self.console.print(f"hook:  {escape(clip.hook)}", highlight=False)
        self.console.print(f"title: {escape(clip.title)}", highlight=False)
        if verdict is not None:
            state = "[green]good[/green]" if verdict.good else f"[red]bad[/red] ({escape(verdict.reason)})"
            self.console.print(f"verdict: {state}", highlight=False)
        table = Table(box=None, pad_edge=False, show_edge=False)
        for name in ("", "#", "time", "kind", "text"):
            table.add_column(name, no_wrap=name != "text")
        low = max(first - CONTEXT_SENTENCES, 0)
        high = min(last + CONTEXT_SENTENCES, len(self.labels.sentences) - 1)
        for sentence in self.labels.sentences[low : high + 1]:
            inside = first <= sentence.index <= last
            style = KIND_STYLES.get(sentence.kind, "")
            table.add_row(
                ">" if inside else "",
                str(sentence.index),
                f"{sentence.start:.1f}",
                f"[{style}]{sentence.kind}[/{style}]",
                escape(sentence.text),
                style=None if inside else "dim",
            )
        self.console.print(table)


def posting_verdicts(folder: ClipsFolder, reviewer: str) -> ClipDecision | None:
    """The review's verdicts as the posting plan's approval, for the clips this database recorded from the
    folder's latest run (its source is the folder's, its output folder this one); ``None`` when there is no such
    run (a folder made elsewhere: its verdicts stay labels only)."""
    from sqlmodel import col, select

    from mcn.db import session
    from mcn.tables import ClipRecord, RunRecord, SourceRecord

    here = folder.path.resolve()
    with session() as db:
        runs = db.exec(
            select(RunRecord)
            .join(SourceRecord, col(SourceRecord.id) == col(RunRecord.source_id))
            .where(SourceRecord.uri == folder.source)
            .order_by(col(RunRecord.started_at).desc())
        ).all()
        run = next((r for r in runs if _out_dir(r.stats) == here), None)
        if run is None:
            return None
        wanted = {f"{run.id[:12]}-{c.id}": c.id for c in folder.clips}
        known = set(db.exec(select(ClipRecord.id).where(col(ClipRecord.id).in_(list(wanted)))).all())
    stored = {name: db_id for db_id, name in wanted.items() if db_id in known}

    def decide(clip_id: str, good: bool, reason: str) -> str:
        from console.projects import record_verdict

        db_id = stored.get(clip_id)
        if db_id is None:
            return ""
        cancelled = record_verdict(db_id, "approved" if good else "rejected", reviewer, reason)
        if good:
            return "approved for posting"
        return "rejected for posting" + (f", {cancelled} planned post(s) cancelled" if cancelled else "")

    return decide


def _out_dir(stats: dict[str, Any] | None) -> Path | None:
    out_dir = (stats or {}).get("out_dir")
    return Path(str(out_dir)).resolve() if out_dir else None


def _int(word: str, what: str) -> int:
    try:
        return int(word)
    except ValueError:
        raise ReviewError(f"{what} {word!r}", "must be a whole number") from None


def _two(rest: str, usage: str) -> tuple[str, str]:
    parts = rest.split()
    if len(parts) != 2:
        raise ReviewError("usage", usage)
    return parts[0], parts[1]
