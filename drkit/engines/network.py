"""Reaching an endpoint step by step, for `drkit doctor` (docs/recovery.md): name resolution, a TCP
connection, then TLS or plain HTTP. Each step answers with what it found or one line on why it
failed, so a wrong port, a missing TLS listener or a bad certificate is named as such instead of
surfacing later as restic's "no repository" or a boto3 stack of retries.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timezone

TIMEOUT_S = 5.0
# What OpenSSL says when the other side answered, but not in TLS (a plain-HTTP port)
NOT_TLS = ("wrong version number", "record layer failure", "packet length too long", "unknown protocol",
           "http request", "record_layer_failure")


@dataclass(frozen=True)
class Reached:
    ok: bool
    detail: str  # what was found, or why it failed


def resolve(host: str, port: int) -> Reached:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return Reached(False, f"cannot resolve host '{host}' ({exc.strerror})")
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    return Reached(True, f"{host} resolves to {', '.join(addresses[:3])}")


def connect(host: str, port: int) -> Reached:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S):
            return Reached(True, f"{host}:{port} accepts connections")
    except ConnectionRefusedError:
        return Reached(False, f"nothing listens on {host}:{port} (connection refused)")
    except TimeoutError:
        return Reached(False, f"no answer from {host}:{port} within {TIMEOUT_S:.0f} s (a firewall, or the wrong host?)")
    except OSError as exc:
        return Reached(False, f"cannot connect to {host}:{port} ({exc.strerror or exc})")


def tls_handshake(host: str, port: int, context: ssl.SSLContext | None = None) -> Reached:
    """A verified TLS handshake with SNI, as restic and boto3 make it."""
    context = context or ssl.create_default_context()
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as raw, \
                context.wrap_socket(raw, server_hostname=host) as tls:
            return Reached(True, f"{tls.version()}, certificate for {host} {_valid_until(tls.getpeercert())}")
    except ssl.SSLCertVerificationError as exc:
        return Reached(False, f"the certificate of {host}:{port} is not trusted: {exc.verify_message}")
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc).lower().replace("_", " ")
        if any(marker in reason for marker in NOT_TLS):
            return Reached(False, f"{host}:{port} does not speak TLS (a plain-HTTP port?)")
        return Reached(False, f"TLS handshake with {host}:{port} failed ({exc.reason or exc})")
    except (ConnectionResetError, TimeoutError) as exc:
        return Reached(False, f"TLS handshake with {host}:{port} failed ({type(exc).__name__}): a plain-HTTP port?")
    except OSError as exc:
        return Reached(False, f"TLS handshake with {host}:{port} failed ({exc.strerror or exc})")


def speaks_http(host: str, port: int) -> Reached:
    """A plain HTTP request: does the port answer in HTTP, or in TLS (an https port named http)?"""
    request = f"HEAD / HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
            sock.sendall(request)
            answer = sock.recv(16)
    except OSError as exc:
        return Reached(False, f"{host}:{port} did not answer an HTTP request ({exc.strerror or exc})")
    if answer.startswith(b"HTTP/"):
        return Reached(True, f"{host}:{port} answers HTTP")
    if answer[:1] == b"\x15":  # a TLS alert record
        return Reached(False, f"{host}:{port} speaks TLS, not plain HTTP")
    return Reached(False, f"{host}:{port} does not answer in HTTP (got {answer[:8]!r})")


def _valid_until(cert: dict | None) -> str:
    end = (cert or {}).get("notAfter")
    if not end:
        return "verified"
    moment = datetime.fromtimestamp(ssl.cert_time_to_seconds(end), timezone.utc)
    return f"valid until {moment:%Y-%m-%d}"
