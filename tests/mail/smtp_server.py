"""A real SMTP server for the tests (aiosmtpd), on 127.0.0.1: it keeps every message it takes
as DIR/<n>.eml with DIR/<n>.json (envelope), and answers some recipients as relays do:

- ``refuse-…@…``: 550 5.1.1 to RCPT TO, every time (a mailbox that does not exist);
- ``busy-…@…``: 451 4.3.0 to RCPT TO for the first two attempts, then accepted;
- ``down-…@…``: 451 4.3.0 to RCPT TO, every time (a relay that stays unavailable).

Usage: smtp_server.py PORT DIR [CERT KEY starttls|implicit]. With a certificate it takes mail
only after STARTTLS, or speaks TLS from the first byte (smtps). Prints "ready" once it listens.
"""

import asyncio
import json
import pathlib
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Keeper:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.attempts: dict[str, int] = {}
        self.count = 0
        # When each transaction began (MAIL FROM), in DIR/started.json: the sender's pace.
        self.started: list[float] = []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.started.append(time.time())
        (self.folder / "started.json").write_text(json.dumps(self.started))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        self.attempts[address] = self.attempts.get(address, 0) + 1
        if local.startswith("refuse-"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if local.startswith("down-") or (local.startswith("busy-") and self.attempts[address] <= 2):
            return f"451 4.3.0 <{address}>: Temporary lookup failure"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = f"{self.count:06d}"
        (self.folder / f"{name}.eml").write_bytes(envelope.original_content)
        meta = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "attempts": self.attempts,
        }
        (self.folder / f"{name}.json").write_text(json.dumps(meta))
        return f"250 2.0.0 Ok: queued as {name}"


def main() -> None:
    port, folder = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    tls = {}
    if len(sys.argv) > 5:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        if sys.argv[5] == "implicit":
            tls = {"ssl_context": context}
        else:
            tls = {"tls_context": context, "require_starttls": True}
    controller = Controller(Keeper(folder), hostname="127.0.0.1", port=port, **tls)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
