"""mcn's Prefect automations against the real Prefect test server: created once however often ensure runs, put
back when changed, and firing for real: a failed post event, an account needing a login and a failed flow run
reach a webhook notification block; a dispatcher that stops passing is noticed and a publish-due run started."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from mcn.automations import (
    NEEDS_LOGIN_EVENT,
    PASS_EVENT,
    POST_FAILED_EVENT,
    PREFIX,
    AutomationError,
    ensure_automations,
)


class _Inbox(http.server.ThreadingHTTPServer):
    daemon_threads = True
    received: list[dict[str, Any]]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Inbox

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append(json.loads(body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def inbox() -> Iterator[_Inbox]:
    """A local webhook receiver: every POSTed JSON body lands in ``received``."""
    server = _Inbox(("127.0.0.1", 0), _Handler)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def harness(prefect_server: None, inbox: _Inbox) -> Iterator[str]:
    """The Prefect test server with a webhook notification block pointing at ``inbox``; yields its slug/name.

    The server is the session's: at the end the automations, the publish-due deployment and its runs go, so that
    no "stalled" automation starts publish-due runs while later modules run."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName

    host, port = inbox.server_address[:2]
    CustomWebhookNotificationBlock(
        name="mcn-test",
        url=f"http://{host!s}:{port}/notify",
        json_data={"subject": "{{subject}}", "body": "{{body}}"},
    ).save("mcn-test", overwrite=True)
    yield "custom-webhook/mcn-test"
    with get_client(sync_client=True) as client:
        for automation in _ours():
            client.delete_automation(automation.id)
        published = DeploymentFilter(name=DeploymentFilterName(any_=["publish-due"]))
        for run in client.read_flow_runs(deployment_filter=published):
            client.delete_flow_run(run.id)
        for deployment in client.read_deployments(deployment_filter=published):
            client.delete_deployment(deployment.id)


def _ours() -> list[Any]:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return [a for a in client.read_automations() if a.name.startswith(PREFIX)]


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    end = time.monotonic() + seconds
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def _publish_deployment() -> None:
    """A publish-due deployment for the "stalled" automation to start (no worker: the run stays scheduled)."""
    from prefect.client.orchestration import get_client

    from flows.publish_due import publish_due_loop

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow_from_name("publish-due")
        entrypoint = "flows/publish_due.py:publish_due_loop"
        client.create_deployment(flow_id=flow_id, name="publish-due", entrypoint=entrypoint)
    assert publish_due_loop.name == "publish-due"


def test_ensure_is_idempotent_and_puts_changed_or_duplicated_automations_back(harness: str) -> None:
    first = ensure_automations(notify_block=harness)
    assert len(first.created) == 4 and not first.updated and not first.deleted
    ids = sorted(str(a.id) for a in _ours())
    again = ensure_automations(notify_block=harness)
    assert len(again.unchanged) == 4 and not (again.created or again.updated or again.deleted)
    assert sorted(str(a.id) for a in _ours()) == ids  # nothing re-created

    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    def core(automation: Any, **changes: Any) -> AutomationCore:
        return AutomationCore(**{**automation.model_dump(exclude={"id", "owner_resource"}), **changes})

    with get_client(sync_client=True) as client:
        changed, other = _ours()[:2]
        client.update_automation(changed.id, core(changed, enabled=False))
        client.create_automation(core(other))  # a duplicate, as a crashed earlier run might leave
    fixed = ensure_automations(notify_block=harness)
    assert fixed.updated == (changed.name,) and len(fixed.deleted) == 1
    assert len(_ours()) == 4 and all(a.enabled for a in _ours())

    with pytest.raises(AutomationError, match="'custom-webhook/nope': no such block"):
        ensure_automations(notify_block="custom-webhook/nope")
    with pytest.raises(AutomationError, match="expected type-slug/name"):
        ensure_automations(notify_block="just-a-name")


@pytest.mark.expect_error_logs  # the failing flow below logs its exception at ERROR, as Prefect does
def test_automations_notify_on_failed_posts_logins_and_runs_and_restart_a_stalled_dispatcher(
    harness: str, inbox: _Inbox
) -> None:
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    _publish_deployment()
    ensure_automations(notify_block=harness, stall_after=timedelta(seconds=10))
    time.sleep(2)  # the triggers service loads the automations it was told about
    inbox.received.clear()

    emit_event(
        event=POST_FAILED_EVENT,
        resource={"prefect.resource.id": "mcn.post.abc123", "prefect.resource.name": "post abc123"},
        payload={"detail": "refused before leaving: no AI label"},
    )
    emit_event(
        event=NEEDS_LOGIN_EVENT,
        resource={"prefect.resource.id": "mcn.account.7", "prefect.resource.name": "sandbox/shop7 (#7)"},
        payload={"reason": "session expired"},
    )
    emit_event(event=PASS_EVENT, resource={"prefect.resource.id": "mcn.publish-due"})

    @flow(name="breaks")
    def breaks() -> None:
        raise ValueError("bad input file")

    assert breaks(return_state=True).is_failed()
    EventsWorker.drain_all()

    def subjects() -> set[str]:
        return {m["subject"] for m in inbox.received}

    wanted = {"mcn: a post failed or was throttled", "mcn: an account needs a login", "mcn: a run failed"}
    _wait(lambda: wanted <= subjects(), 60, f"notifications {wanted} (got {subjects()})")
    bodies = {m["subject"]: m["body"] for m in inbox.received}
    assert "post abc123" in bodies["mcn: a post failed or was throttled"]
    assert "no AI label" in bodies["mcn: a post failed or was throttled"]
    assert "sandbox/shop7 (#7)" in bodies["mcn: an account needs a login"]
    assert "Failed" in bodies["mcn: a run failed"]

    # No pass for 10 s after the last one: "stalled" notifies and starts a publish-due run.
    _wait(lambda: "mcn: publish-due stalled" in subjects(), 90, "the stalled notification")
    with get_client(sync_client=True) as client:

        def started() -> bool:
            return bool(
                client.read_flow_runs(
                    deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["publish-due"]))
                )
            )

        _wait(started, 30, "a publish-due run started by the automation")
