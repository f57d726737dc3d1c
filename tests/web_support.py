"""Shared pieces of the members' pages tests: a real SMTP server in the test process (aiosmtpd) that keeps
what it is sent, an alliance with an open decision and members with addresses, and the links in a mail."""

from __future__ import annotations

import asyncio
import email
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from decision_support import MEMBERS, alliance_with_members

from accord import contacts
from accord.app import Accord
from accord.config import Settings
from events.decision import PointDraft

POINTS = ["March on the river day", "Accept the grant"]


@dataclass
class Mailbox:
    """What the SMTP server was sent, as parsed messages, in order."""

    messages: list[EmailMessage] = field(default_factory=list[EmailMessage])
    arrived: threading.Event = field(default_factory=threading.Event)
    """Set by the server's thread when a message arrives."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        self.arrived.set()
        return "250 OK"

    def text(self, index: int = -1) -> str:
        body = self.messages[index].get_body(("plain",))
        assert body is not None
        return body.get_content()  # type: ignore[no-any-return]

    def links(self, index: int = -1) -> list[str]:
        return re.findall(r"https?://\S+/web/sign-in/link/[\w-]+", self.text(index))

    async def wait(self, count: int, seconds: float = 10.0) -> None:
        """Until `count` messages have arrived (the server runs in its own thread), for at most `seconds`."""
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            self.arrived.clear()
            if len(self.messages) < count:
                await asyncio.to_thread(self.arrived.wait, max(0.0, deadline - time.monotonic()))
        assert len(self.messages) >= count, f"{len(self.messages)} message(s) arrived, not {count}"


def mail_to(mailbox: Mailbox, address: str) -> str:
    """The plain text of the one message sent to `address`."""
    [body] = [m.get_body(("plain",)).get_content() for m in mailbox.messages if m["To"] == address]  # type: ignore[union-attr]
    return body  # type: ignore[no-any-return]


def answer_links(text: str) -> dict[tuple[str, str], str]:
    """(point, stance label) -> path of its one-click link, as the plain text part lists them."""
    links: dict[tuple[str, str], str] = {}
    point = ""
    for line in text.splitlines():
        if found := re.match(r"Your stance on (\w+) ", line):
            point = found.group(1)
        elif found := re.match(r"\s+(.+): https?://[^/\s]+(/web/answer/[\w-]+)$", line):
            links[(point, found.group(1))] = found.group(2)
    return links


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def web_settings(smtp_port: int | None, base_url: str = "http://accord.test") -> Settings:
    return Settings(
        public_url=base_url, smtp_host="127.0.0.1" if smtp_port else None, smtp_port=smtp_port or 25, smtp_tls="none",
        smtp_from="accord <accord@accord.test>",
    )


@dataclass
class Opened:
    alliance_id: str
    decision_id: str


async def decision_with_addresses(app: Accord) -> Opened:
    """The decision support's alliance (gw coordinates; amber, birch, cedar, dune) with an address each
    (`<member>@example.org`; cedar chose Spanish), and amber's open decision of two points."""
    alliance_id = await alliance_with_members(app, f"rivers-{uuid.uuid4().hex[:8]}")
    for member in ["gw", *MEMBERS]:
        await contacts.set_contact(
            app, alliance_id, "gw", member, email=f"{member}@example.org", language="es" if member == "cedar" else None
        )
    decision_id = f"d-{uuid.uuid4().hex[:8]}"
    await app.open_decision(alliance_id, "amber", decision_id, "Joint campaign 2027", [PointDraft(text=t) for t in POINTS])
    return Opened(alliance_id, decision_id)
