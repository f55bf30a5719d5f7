"""Where an `s3:` repository lives, from its URL alone: no boto3, so commands that only name
locations (`drkit status`, reports) do not import it (drkit/engines/s3.py re-exports these)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from drkit.core import errors
from drkit.core.policy import Repository

EVIDENCE_PREFIX = "drkit-evidence"


@dataclass(frozen=True)
class S3Location:
    """Where a restic `s3:` repository lives."""

    endpoint: str  # https://host[:port]
    bucket: str
    prefix: str
    region: str

    @property
    def evidence_root(self) -> str:
        """`drkit-evidence/` beside the repository directory (bucket root for a one-level prefix)."""
        base = (self.prefix.rsplit("/", 1)[0] + "/") if "/" in self.prefix else ""
        return f"{base}{EVIDENCE_PREFIX}/"

    @property
    def is_aws(self) -> bool:
        return urlparse(self.endpoint).hostname.endswith("amazonaws.com")  # type: ignore[union-attr]


def parse_location(repo: Repository) -> S3Location | None:
    """Split `s3:https://host/bucket/prefix` (restic's syntax); None for non-S3 repositories."""
    url = repo.url
    if not url.startswith("s3:"):
        return None
    rest = url[3:]
    if not rest.startswith(("http://", "https://")):
        rest = "https://" + rest  # restic's default for `s3:host/bucket`
    parsed = urlparse(rest)
    parts = [p for p in parsed.path.split("/") if p]
    if not parts:
        raise errors.UsageError(f"repository.url: '{url}' names no bucket (expected s3:https://HOST/BUCKET/PREFIX)")
    region = repo.region or _region_from_host(parsed.hostname or "") or "us-east-1"
    return S3Location(f"{parsed.scheme}://{parsed.netloc}", parts[0], "/".join(parts[1:]), region)


def _region_from_host(host: str) -> str | None:
    labels = host.split(".")
    if host.endswith("amazonaws.com") and len(labels) >= 4 and labels[0] == "s3":
        return labels[1]
    return None
