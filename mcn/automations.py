"""Prefect automations that tell the operator when the farm needs them; created idempotently by ``mcn up``.

Four automations, all named ``mcn: ...`` and tagged ``mcn``:

* **a run failed**: any flow run that ends Failed or Crashed.
* **posts failed or throttled**: the dispatcher's ``mcn.post.failed`` / ``mcn.post.throttled`` events
  (flows/publish_due.py emits one per post).
* **an account needs a login**: ``mcn.account.needs-login`` (a publish or reconcile found the session expired).
* **publish-due stalled**: no ``mcn.publish-due.pass`` event for 5 minutes (proactive). Besides notifying, it
  starts a ``publish-due`` run, so a dispatcher that died comes back as soon as a worker is there.

Each sends a notification through the Prefect notification block named by ``MCN_NOTIFY_BLOCK``
(``type-slug/name``: create a Slack, e-mail, webhook... block in the Prefect UI). Without one the automations
still fire and show in the UI's Automations and Events pages. :func:`ensure_automations` makes the server's
``mcn: ...`` automations exactly the desired ones (created, updated in place, stale ones deleted), so running it
again changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient
    from prefect.events.schemas.automations import AutomationCore

PREFIX = "mcn: "
TAG = "mcn"
#: how long without a dispatcher pass before "publish-due stalled" fires
STALL_AFTER = timedelta(minutes=5)
# The events flows/publish_due.py emits (defined here, where the automations that match them are).
PASS_EVENT = "mcn.publish-due.pass"
POST_FAILED_EVENT = "mcn.post.failed"
POST_THROTTLED_EVENT = "mcn.post.throttled"
NEEDS_LOGIN_EVENT = "mcn.account.needs-login"

_EVENT_BODY = (
    "{{ event.event }}: {{ event.resource.get('prefect.resource.name', event.resource.id) }}"
    "{% if event.payload.get('detail') %} ({{ event.payload.detail }}){% endif %}"
    "{% if event.payload.get('reason') %} ({{ event.payload.reason }}){% endif %}"
)


class AutomationError(RuntimeError):
    """The automations could not be set up (unknown notification block, API error); ``str()`` is one line."""


@dataclass(frozen=True, slots=True)
class AutomationReport:
    """What :func:`ensure_automations` did."""

    created: tuple[str, ...]
    updated: tuple[str, ...]
    deleted: tuple[str, ...]
    unchanged: tuple[str, ...]
    notify: str | None  # the notification block used, if any

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.created + self.updated + self.unchanged))


def desired_automations(
    notify_block_id: UUID | None,
    publish_deployment_id: UUID | None,
    stall_after: timedelta = STALL_AFTER,
) -> list[AutomationCore]:
    """The automations mcn wants on the server (see the module docstring)."""
    from prefect.events.actions import DoNothing, RunDeployment, SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    def notify(subject: str, body: str) -> list[Any]:
        if notify_block_id is None:
            return [DoNothing()]
        return [SendNotification(block_document_id=notify_block_id, subject=f"mcn: {subject}", body=body)]

    run_failed = AutomationCore(
        # Every field given: the client PUTs only the fields set, so a default left out would not reset a change.
        enabled=True,
        actions_on_trigger=[],
        actions_on_resolve=[],
        name=f"{PREFIX}a run failed",
        description="A flow run ended Failed or Crashed.",
        tags=[TAG],
        trigger=EventTrigger(
            expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
            match={"prefect.resource.id": "prefect.flow-run.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=notify(
            "a run failed",
            "Flow run {{ event.resource.get('prefect.resource.name', '') }} ended "
            "{{ event.event.split('.')[-1] }}: {{ event.payload.get('validated_state', {}).get('message', '') }}",
        ),
    )
    posts = AutomationCore(
        enabled=True,
        actions_on_trigger=[],
        actions_on_resolve=[],
        name=f"{PREFIX}posts failed or throttled",
        description="The dispatcher failed a post, or a platform throttled one that went out.",
        tags=[TAG],
        trigger=EventTrigger(
            expect={POST_FAILED_EVENT, POST_THROTTLED_EVENT},
            match={"prefect.resource.id": "mcn.post.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=notify("a post failed or was throttled", _EVENT_BODY),
    )
    login = AutomationCore(
        enabled=True,
        actions_on_trigger=[],
        actions_on_resolve=[],
        name=f"{PREFIX}an account needs a login",
        description="Publishing found an account's session expired; its posts wait until someone logs in.",
        tags=[TAG],
        trigger=EventTrigger(
            expect={NEEDS_LOGIN_EVENT},
            match={"prefect.resource.id": "mcn.account.*"},
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=notify("an account needs a login", _EVENT_BODY + " - run `mcn accounts login`"),
    )
    minutes = stall_after.total_seconds() / 60
    heal: list[Any] = []
    if publish_deployment_id is not None:
        heal = [
            RunDeployment(source="selected", deployment_id=publish_deployment_id, parameters=None, job_variables=None)
        ]
    # Without a notification block, the run it starts is the action (DoNothing only when there is nothing to do).
    alert = notify("publish-due stalled", f"No publish-due pass for {minutes:g} minutes.")
    if notify_block_id is None and heal:
        alert = []
    stalled = AutomationCore(
        enabled=True,
        actions_on_trigger=[],
        actions_on_resolve=[],
        name=f"{PREFIX}publish-due stalled",
        description=f"No dispatcher pass for {minutes:g} minutes: due posts are not going out. Starts a publish-due "
        "run (it waits for a worker if none is there).",
        tags=[TAG],
        trigger=EventTrigger(
            expect={PASS_EVENT},
            match={"prefect.resource.id": "mcn.publish-due"},
            posture=Posture.Proactive,
            threshold=1,
            within=stall_after,
        ),
        actions=[*alert, *heal],
    )
    return [run_failed, posts, login, stalled]


def _same(existing: AutomationCore, wanted: AutomationCore) -> bool:
    keys = ("name", "description", "enabled", "tags", "trigger", "actions")
    have = existing.model_dump(mode="json", include=set(keys))
    want = wanted.model_dump(mode="json", include=set(keys))
    return bool(have == want)


def _block_id(client: SyncPrefectClient, slug_and_name: str) -> UUID:
    from prefect.exceptions import ObjectNotFound

    slug, _, name = slug_and_name.partition("/")
    if not slug or not name:
        raise AutomationError(f"MCN_NOTIFY_BLOCK {slug_and_name!r}: expected type-slug/name, e.g. slack-webhook/ops")
    try:
        document = client.read_block_document_by_name(name=name, block_type_slug=slug)
    except ObjectNotFound:
        raise AutomationError(f"MCN_NOTIFY_BLOCK {slug_and_name!r}: no such block on the Prefect server") from None
    if document.id is None:  # pragma: no cover - the API always returns an id
        raise AutomationError(f"MCN_NOTIFY_BLOCK {slug_and_name!r}: the block has no id")
    return document.id


def _deployment_id(client: SyncPrefectClient, name: str) -> UUID | None:
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(name).id
    except ObjectNotFound:
        return None


def ensure_automations(
    notify_block: str | None = None,
    publish_deployment: str = "publish-due/publish-due",
    stall_after: timedelta = STALL_AFTER,
) -> AutomationReport:
    """Make the Prefect server's ``mcn: ...`` automations exactly :func:`desired_automations` (idempotent).

    Args:
        notify_block: ``type-slug/name`` of a notification block (default ``MCN_NOTIFY_BLOCK``); ``None`` and
            no setting: the automations notify nobody but still fire (visible in the UI).
        publish_deployment: ``flow/deployment`` that "publish-due stalled" runs; skipped if it does not exist.
        stall_after: how long without a dispatcher pass counts as stalled.

    Raises:
        AutomationError: an unknown notification block, or the API refused a change.
    """
    from prefect.client.orchestration import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    from mcn.settings import get_settings

    notify_block = notify_block or get_settings().notify_block
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    deleted: list[str] = []
    with get_client(sync_client=True) as client:
        block_id = _block_id(client, notify_block) if notify_block else None
        wanted = desired_automations(block_id, _deployment_id(client, publish_deployment), stall_after)
        try:
            ours: dict[str, Any] = {}
            duplicates: list[Any] = []
            for found in client.read_automations():
                if found.name.startswith(PREFIX):
                    (duplicates if found.name in ours else []).append(found)
                    ours.setdefault(found.name, found)
            for automation in wanted:
                existing = ours.pop(automation.name, None)
                if existing is None:
                    client.create_automation(automation)
                    created.append(automation.name)
                elif _same(existing, automation):
                    unchanged.append(automation.name)
                else:
                    client.update_automation(existing.id, automation)
                    updated.append(automation.name)
            for stale in [*ours.values(), *duplicates]:  # an older version's automation, or a duplicate
                client.delete_automation(stale.id)
                deleted.append(stale.name)
        except PrefectHTTPStatusError as exc:
            raise AutomationError(f"automations: the Prefect API answered {exc.response.status_code}") from None
    return AutomationReport(tuple(created), tuple(updated), tuple(deleted), tuple(unchanged), notify_block)
