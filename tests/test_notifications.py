"""The notifications outbox (issue 20) against a real SMTP server started by the test
(aiosmtpd on a loopback port): the welcome mail arrives with the setup link, no clear
token stays behind, and `notifications list|resend` show and re-deliver rows."""
from __future__ import annotations

import email
import email.policy
import re
import socket
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from cli import run
from helpers import approved
from tenantops.engine import secrets
from tenantops.engine.context import Context
from tenantops.engine.tenants.notify import link_key


class Inbox:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd's handler hook
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(f"To: {msg['To']}\nSubject: {msg['Subject']}\n\n{msg.get_content()}")
        return "250 OK"


@pytest.fixture
def smtp_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def configure_smtp(port: int) -> None:
    config = Path(__import__("os").environ["TENANTOPS_CONFIG"])
    config.write_text(f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsender = "ops@example.org"\n')


def provision(slug: str) -> str:
    """Provision on the embedded server; returns the setup link shown once to the operator."""
    ctx = Context.open()
    approved(ctx, slug, template="community_group")
    ctx.close()
    r = run("provision", slug)
    assert r.code == 0, r.err
    found = re.search(r"setup link for \S+ \(shown once[^)]*\): (\S+)", r.err)
    return found.group(1) if found else ""


def everything_under(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in home.rglob("*") if p.is_file())


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1].split("=")[-1]


def test_welcome_mail_arrives_and_no_clear_token_stays_behind(smtp_server, tenantops_env: Path) -> None:
    port, inbox = smtp_server
    configure_smtp(port)
    ctx = Context.open()
    approved(ctx, "hill-club", template="community_group")
    ctx.close()
    r = run("provision", "hill-club")
    assert r.code == 0, r.err
    assert "setup link" not in r.err  # mailed: not shown as well
    assert len(inbox.messages) == 1
    mail = inbox.messages[0]
    assert "admin@hill-club.example.org" in mail and "hill-club" in mail
    link = re.search(r"(https?://\S+)", mail).group(1)
    assert len(token_of(link)) >= 16
    assert token_of(link).encode() not in everything_under(tenantops_env)
    rows = run("notifications", "list", "--json").json()
    assert [(n["tenant"], n["status"], n["holds_setup_link"]) for n in rows] == [("hill-club", "sent", False)]


def test_a_pending_mail_is_listed_and_resent_once_smtp_is_configured(smtp_server, tenantops_env: Path) -> None:
    port, inbox = smtp_server
    link = provision("river-club")          # no SMTP yet: the mail waits in the outbox
    assert link
    pending = run("notifications", "list", "--status", "pending", "--json").json()
    assert len(pending) == 1 and pending[0]["holds_setup_link"] is True
    note_id = pending[0]["id"]
    # the landlord holds a placeholder, the keyring the link, nothing holds the token in clear
    assert token_of(link).encode() not in everything_under(tenantops_env)
    assert secrets.get_secret(link_key(note_id), required=False) == link

    r = run("notifications", "resend", str(note_id))
    assert r.code == 1 and "SMTP" in r.err
    configure_smtp(port)
    r = run("notifications", "resend", "9999")
    assert r.code == 1 and "9999" in r.err and inbox.messages == []

    r = run("notifications", "resend", str(note_id), "--json")
    assert r.code == 0, r.err
    assert r.json()["status"] == "sent"
    assert len(inbox.messages) == 1 and link in inbox.messages[0]
    assert secrets.get_secret(link_key(note_id), required=False) is None
    assert token_of(link).encode() not in everything_under(tenantops_env)

    # sending a sent mail again makes a new row; a used setup link is never sent twice
    r = run("notifications", "resend", str(note_id), "--json")
    assert r.code == 0, r.err
    assert r.json()["id"] != note_id
    assert len(inbox.messages) == 2 and link not in inbox.messages[1]
    assert run("notifications", "list", "--json").json()[0]["status"] == "sent"
    audit = [(e["action"], e["outcome"]) for e in run("audit", "--json").json()]
    assert audit.count(("notifications.resend", "ok")) == 2


def test_notifications_usage_errors() -> None:
    r = run("notifications", "list", "--status", "bogus")
    assert r.code == 2
    r = run("notifications", "resend")
    assert r.code == 2 and "ID" in r.err
