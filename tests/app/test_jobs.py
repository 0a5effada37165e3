"""Jobs are enqueued only after commit, carry ids only, and run under their own tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from pydantic import SecretStr

from app.config import EmailSettings, Settings
from app.server import create_app
from app.state import AppState
from app.worker import build_workers
from tests.conftest import make_settings
from tests.support.factories import Factory
from tests.support.graphql import GraphQL
from tests.support.services import TestServices
from tests.support.smtp_server import SlowSMTPServer


@pytest.fixture
def mail() -> Iterator[SlowSMTPServer]:
    server = SlowSMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
async def mail_app(
    services: TestServices, settings: Settings, mail: SlowSMTPServer
) -> AsyncIterator[tuple[GraphQL, AppState]]:
    mail_settings = make_settings(
        services,
        email=EmailSettings(smtp_host="127.0.0.1", smtp_port=mail.port),
        auth=settings.auth.model_copy(update={"jwt_secret": SecretStr("mail-" + "y" * 40)}),
    )
    state = await AppState.create(mail_settings)
    transport = httpx.ASGITransport(app=create_app(mail_settings, state))
    async with httpx.AsyncClient(transport=transport, base_url="http://parley.test") as http:
        yield GraphQL(http), state
    await state.close()


async def _drain(state: AppState) -> None:
    workers = build_workers(state.settings, state, burst=True)
    await asyncio.gather(*(w.async_run() for w in workers))
    for worker in workers:
        await worker.close()


async def test_invitation_email_is_sent_by_the_worker_after_commit(
    mail_app: tuple[GraphQL, AppState], mail: SlowSMTPServer
) -> None:
    gql, state = mail_app
    factory = Factory(gql)
    tenant = await factory.tenant("Mailers")
    invited = (
        await tenant.gql.op("InviteMember", {"input": {"email": "new-hire@example.com"}})
    ).data["inviteMember"]
    assert invited["token"] is None  # emailed, so not shown to the inviter

    # A request that fails after adding a job enqueues nothing.
    document = """mutation {
      a: inviteMember(input: {email: "never@example.com"}) { token }
      b: inviteMember(input: {email: "not-an-email"}) { token }
    }"""
    failed = await tenant.gql.query(document)
    assert failed.codes == ["VALIDATION"]

    await _drain(state)
    assert [m.recipients for m in mail.messages] == [["<new-hire@example.com>"]]
    import email
    from email.message import EmailMessage
    from email.policy import default

    message = email.message_from_bytes(mail.messages[0].data, policy=default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Join Mailers on Parley"
    body = message.get_content()
    assert "Mailers" in body
    token = next(word for word in body.split() if word.startswith("inv_"))
    invitee = await factory.account()
    # The emailed token works (accepted by an account with that email).
    signup = await gql.op(
        "SignUp",
        {
            "input": {
                "email": "new-hire@example.com",
                "password": "correct horse battery",
                "displayName": "New",
            }
        },
    )
    accepted = await gql.as_(signup.data["signUp"]["accessToken"]).op(
        "AcceptInvitation", {"token": token}
    )
    assert accepted.data["acceptInvitation"]["id"] == tenant.id
    assert invitee.email != "new-hire@example.com"


async def test_a_forged_job_finds_nothing(
    mail_app: tuple[GraphQL, AppState], mail: SlowSMTPServer
) -> None:
    gql, state = mail_app
    factory = Factory(gql)
    a = await factory.tenant("A")
    b = await factory.tenant("B")
    await a.gql.op("InviteMember", {"input": {"email": "a-only@example.com"}})
    await _drain(state)
    sent_before = len(mail.messages)
    # Enqueue a job pairing B's workspace with A's invitation id, as a forger would.
    admin = (await a.gql.op("WorkspaceAdmin")).data["workspace"]
    from app.graphql.node import from_global_id

    inv_id = from_global_id(admin["invitations"]["edges"][0]["node"]["id"])[1]
    b_id = from_global_id(b.id)[1]
    await state.queue.enqueue_job(
        "send_invitation_email", str(b_id), str(inv_id), "inv_x", _queue_name="arq:interactive"
    )
    await _drain(state)
    assert len(mail.messages) == sent_before
