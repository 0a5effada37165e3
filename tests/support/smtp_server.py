"""A minimal SMTP server (RFC 5321 subset smtplib uses) that can be slow on purpose.

It accepts every message, keeps it, and waits `delay_s` before acknowledging the message data,
which turns an invitation email into a job that takes as long as a test needs.
"""

from __future__ import annotations

import socketserver
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    """A delivered message."""

    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SlowSMTPServer:
    """Listens on 127.0.0.1 on a free port."""

    delay_s: float = 0.0
    messages: list[Received] = field(default_factory=list)
    started_data: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self) -> None:
                self.reply("220 test-smtp ready")
                sender, recipients = "", []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    command = raw.decode(errors="replace").strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb == "EHLO":
                        self.reply("250-test-smtp")
                        self.reply("250 8BITMIME")
                    elif verb == "HELO":
                        self.reply("250 test-smtp")
                    elif verb == "MAIL":
                        sender = command.split(":", 1)[1].strip()
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        recipients.append(command.split(":", 1)[1].strip())
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        outer.started_data.set()
                        lines = []
                        while True:
                            line = self.rfile.readline()
                            if not line or line in (b".\r\n", b".\n"):
                                break
                            lines.append(line)
                        time.sleep(outer.delay_s)
                        outer.messages.append(Received(sender, recipients, b"".join(lines)))
                        self.reply("250 OK queued")
                        sender, recipients = "", []
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> SlowSMTPServer:
        """Begin accepting connections."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Shut down."""
        self._server.shutdown()
        self._server.server_close()
