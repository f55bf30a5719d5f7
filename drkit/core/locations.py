"""Offline syntax check of restic repository strings, so a typo fails `drkit policy validate`
(exit 2, FILE:LINE) instead of the first backup (exit 1, or a repository in an odd place).

Accepted (restic's own forms, docs/reliability.md):
  s3:https://HOST[:PORT]/BUCKET[/PREFIX]   s3:http://…   s3:HOST/BUCKET[/PREFIX] (restic's https default)
  /ABSOLUTE/DIRECTORY or local:/ABSOLUTE/DIRECTORY (a local repository, for tests)
No network and no credentials are involved; whether the bucket exists is `drkit repo init`'s job.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit, urlunsplit

_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$")
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_VIRTUAL_FILESYSTEMS = (PurePosixPath("/dev"), PurePosixPath("/proc"), PurePosixPath("/sys"))
S3_FORMS = "s3:https://HOST[:PORT]/BUCKET[/PREFIX] or s3:HOST/BUCKET[/PREFIX]"


def check_repository_url(url: str) -> str:
    """Return `url` when restic and drkit can use it; else ValueError naming what is wrong."""
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise ValueError(f"{url!r}: a repository string has no spaces or control characters")
    if url.startswith("s3:"):
        _check_s3(url)
    elif url.startswith(("/", "local:")):
        _check_local(url, url.removeprefix("local:"))
    else:
        raise ValueError(f"'{url}': drkit supports s3:… repositories (and local paths for tests)")
    return url


def _check_s3(url: str) -> None:
    rest = url[3:]
    scheme, sep, _ = rest.partition("://")
    if sep and scheme not in ("http", "https"):
        raise ValueError(f"'{url}': unknown scheme '{scheme}'; use {S3_FORMS}")
    parsed = urlsplit(rest if sep else f"https://{rest}")
    if parsed.query or parsed.fragment:
        raise ValueError(f"'{url}': no '?' or '#' in a repository string; use {S3_FORMS}")
    host = parsed.hostname or ""
    if not (_HOST.match(host) or _is_ipv6(parsed.netloc)):
        raise ValueError(f"'{url}': '{host or parsed.netloc}' is not a host name; use {S3_FORMS}")
    try:
        parsed.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError:
        raise ValueError(f"'{url}': the port must be a number from 1 to 65535; use {S3_FORMS}") from None
    bucket, *prefix = parsed.path.lstrip("/").split("/", 1)
    if not bucket:
        raise ValueError(f"'{url}': names no bucket; use {S3_FORMS}")
    if not _BUCKET.match(bucket):
        raise ValueError(f"'{url}': '{bucket}' is not a bucket name (letters, digits, '.', '-', '_')")
    if prefix and ".." in prefix[0].split("/"):
        raise ValueError(f"'{url}': '..' in the repository prefix")


def _is_ipv6(netloc: str) -> bool:
    host = netloc.rpartition("@")[2]
    return host.startswith("[") and "]" in host


def _check_local(url: str, path: str) -> None:
    where = PurePosixPath(path)
    if not where.is_absolute():
        raise ValueError(f"'{url}': a local repository must be an absolute directory path")
    if any(where == top or top in where.parents for top in _VIRTUAL_FILESYSTEMS):
        raise ValueError(f"'{url}': {where.parts[1]} is a virtual file system, not a place for a repository")


def location_problem(url: str) -> str | None:
    """Why `url` cannot be a repository, in one line; None when its syntax is fine (`drkit doctor`)."""
    try:
        check_repository_url(url)
    except ValueError as exc:
        return str(exc)
    return None


def public_url(url: str) -> str:
    """The repository URL without any user:password part (reports never carry secrets)."""
    scheme, sep, rest = url.partition(":")
    if not sep or "@" not in rest:
        return url
    parts = urlsplit(rest)
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{scheme}:{urlunsplit(parts._replace(netloc=host))}"
