"""A small loopback HTTP proxy between drkit/restic and a real S3 server that misbehaves on purpose:
it answers 503 to every Nth request, or answers every request late.

Requests are relayed byte for byte (the Host header too, so SigV4 signatures still match upstream);
a failed request is answered without reaching the server. The proxy is bounded: it stops by itself
after `lifetime_s` (a test that hangs cannot leave it running), and on leaving its `with` block.
"""

from __future__ import annotations

import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te",
                        "upgrade"})
UNAVAILABLE = (b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
               b"<Message>injected by the fault-matrix proxy</Message></Error>")


class S3Proxy:
    """`with S3Proxy(upstream, fail_every=3) as proxy:` -> requests to `proxy.endpoint` reach
    `upstream`, except every third, which gets 503 Service Unavailable."""

    def __init__(self, upstream: str, *, fail_every: int = 0, delay_s: float = 0.0, lifetime_s: float = 300.0):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.fail_every = fail_every
        self.delay_s = delay_s
        self.lifetime_s = lifetime_s
        self.requests = 0
        self.failed = 0
        self._count = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="s3-proxy", daemon=True)
        self._deadline = threading.Timer(lifetime_s, self.close)
        self._deadline.daemon = True

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "S3Proxy":
        self._thread.start()
        self._deadline.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._deadline.cancel()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    def should_fail(self) -> bool:
        """Count a request; True when it is one to answer with 503."""
        with self._count:
            self.requests += 1
            fail = self.fail_every > 0 and self.requests % self.fail_every == 0
            self.failed += fail
        return fail


def _handler(proxy: S3Proxy) -> type[BaseHTTPRequestHandler]:
    class Relay(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as S3 clients expect

        def log_message(self, format, *args) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
            pass

        def relay(self) -> None:
            body = self._read_body()
            if proxy.delay_s:
                time.sleep(proxy.delay_s)
            if proxy.should_fail():
                self._answer(503, [("Content-Type", "application/xml")], UNAVAILABLE, head=self.command == "HEAD")
                return
            upstream = http.client.HTTPConnection(*proxy.upstream, timeout=120)
            try:
                upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP_BY_HOP or name.lower() == "transfer-encoding":
                        upstream.putheader(name, value)
                upstream.endheaders(body or None)
                response = upstream.getresponse()
                data = response.read()
                headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
                self._answer(response.status, headers, data, head=self.command == "HEAD")
            except OSError:
                self._answer(502, [("Content-Type", "text/plain")], b"upstream unreachable", head=self.command == "HEAD")
            finally:
                upstream.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = relay

        def _read_body(self) -> bytes:
            """The request body as sent: Content-Length bytes, or the raw chunked framing."""
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                raw = bytearray()
                while True:
                    size_line = self.rfile.readline()
                    raw += size_line
                    size = int(size_line.split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while True:  # trailers, up to the empty line
                            line = self.rfile.readline()
                            raw += line
                            if line in (b"\r\n", b"\n", b""):
                                return bytes(raw)
                    raw += self.rfile.read(size + 2)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes, *, head: bool = False) -> None:
            self.send_response_only(status)
            length = str(len(data))
            for name, value in headers:
                if name.lower() == "content-length":
                    length = value if head else length
                else:
                    self.send_header(name, value)
            self.send_header("Content-Length", length)  # a HEAD answer carries the object's length
            self.end_headers()
            if not head:
                self.wfile.write(data)

    return Relay
