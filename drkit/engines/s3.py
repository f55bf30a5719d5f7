"""The only module that talks to boto3: endpoints, credentials, bucket state, evidence objects."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

import botocore.exceptions

if TYPE_CHECKING:
    import boto3

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.s3_location import EVIDENCE_PREFIX, S3Location, _region_from_host, parse_location

ESCROW_PREFIX = "drkit-escrow"  # beside drkit-evidence/: age-sealed repository passwords (docs/security.md)


__all__ = ["ESCROW_PREFIX", "EVIDENCE_PREFIX", "S3", "BucketProbe", "BucketState", "S3Location", "_region_from_host", "parse_location"]


@dataclass(frozen=True)
class BucketProbe:
    """One signed request to the repository's bucket (`drkit doctor`): how S3 answered."""

    code: str | None            # S3's error code (InvalidAccessKeyId, NoSuchBucket, ...); None: it worked
    message: str                # S3's own words, or why no answer came
    server_time: datetime | None  # the response's Date header, for the clock-skew check
    region: str | None          # x-amz-bucket-region, when the server names it
    answered: bool = True       # False: no HTTP answer at all (connection, TLS, timeout)


@dataclass(frozen=True)
class BucketState:
    exists: bool
    versioning: str  # Enabled | Suspended | Off
    object_lock: bool
    default_retention: str | None


@dataclass(frozen=True)
class Unsupported:
    """The server answered that it does not implement an API (its error code)."""

    code: str


@dataclass(frozen=True)
class StoredObject:
    key: str
    modified: datetime


@dataclass(frozen=True)
class ObjectRetention:
    key: str
    mode: str | None
    retain_until: datetime | None


# control -> (boto3 method, error codes meaning "not configured")
_CONTROL_READS: dict[str, tuple[str, frozenset[str]]] = {
    "versioning": ("get_bucket_versioning", frozenset()),
    "object_lock": ("get_object_lock_configuration", frozenset({"ObjectLockConfigurationNotFoundError"})),
    "public_access_block": ("get_public_access_block", frozenset({"NoSuchPublicAccessBlockConfiguration"})),
    "encryption": ("get_bucket_encryption", frozenset({"ServerSideEncryptionConfigurationNotFoundError"})),
    "lifecycle": ("get_bucket_lifecycle_configuration", frozenset({"NoSuchLifecycleConfiguration"})),
}
_NOT_IMPLEMENTED = frozenset({"NotImplemented", "501", "MethodNotAllowed", "405", "XNotImplemented"})
_REFUSED = frozenset({"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"})  # credentials or policy
# answers that say nothing about the bucket's configuration (a busy or failing server, no bucket, no answer)
_UNANSWERED = frozenset({"", "InternalError", "ServiceUnavailable", "SlowDown", "500", "502", "503", "504",
                         "NoSuchBucket", "404"})


class S3:
    """boto3 access for one policy's repository bucket."""

    def __init__(self, repo: Repository, *, connect_timeout: float = 5, read_timeout: float = 30):
        location = parse_location(repo)
        if location is None:
            raise errors.UsageError(f"repository.url: '{repo.url}' is not an s3: repository")
        self.repo = repo
        self.location = location
        self._timeouts = (connect_timeout, read_timeout)

    @cached_property
    def session(self) -> boto3.session.Session:
        import boto3  # deferred: ~0.1 s of imports that commands never reaching S3 should not pay

        try:
            return boto3.session.Session(profile_name=self.repo.aws_profile, region_name=self.location.region)
        except botocore.exceptions.ProfileNotFound:
            raise errors.UsageError(f"repository.aws_profile: AWS profile '{self.repo.aws_profile}' not found") from None

    @cached_property
    def client(self):
        from botocore.config import Config

        config = Config(
            s3={"addressing_style": "auto" if self.location.is_aws else "path"},
            connect_timeout=self._timeouts[0], read_timeout=self._timeouts[1],
            retries={"max_attempts": 3, "mode": "standard"},
        )
        return self.session.client("s3", endpoint_url=self.location.endpoint, config=config)

    def credentials_env(self) -> dict[str, str]:
        """Resolve credentials through boto3's chain (profile, env, SSO, role) for restic's env."""
        keys = _environment_keys() if self.repo.aws_profile is None else None
        if keys is not None:
            return {**keys, "AWS_DEFAULT_REGION": self.location.region}
        creds = self.session.get_credentials()
        if creds is None:
            raise errors.S3Error(f"no AWS credentials found for {self.location.endpoint}",
                                 hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or repository.aws_profile")
        frozen = creds.get_frozen_credentials()
        env = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key,
               "AWS_DEFAULT_REGION": self.location.region}
        if frozen.token:
            env["AWS_SESSION_TOKEN"] = frozen.token
        return env

    # --- errors ----------------------------------------------------------------------------

    def _call(self, what: str, func, **kwargs):
        try:
            return func(**kwargs)
        except (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.ReadTimeoutError) as exc:
            raise errors.Unreachable(f"{what}: S3 endpoint {self.location.endpoint} unreachable ({exc})",
                                     hint="check the endpoint URL and the network") from None
        except botocore.exceptions.NoCredentialsError:
            raise errors.S3Error(f"{what}: no AWS credentials found",
                                 hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or repository.aws_profile") from None
        except botocore.exceptions.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in _REFUSED:
                refused = errors.S3Error(f"{what}: S3 refused the request ({code}) for bucket '{self.location.bucket}'",
                                         hint="check the credentials and bucket policy")
                refused.code = code
                raise refused from None
            err = errors.S3Error(f"{what}: {code or exc} (bucket '{self.location.bucket}')")
            err.code = code
            raise err from None
        except botocore.exceptions.BotoCoreError as exc:
            raise errors.S3Error(f"{what}: {exc}") from None

    def probe(self) -> BucketProbe:
        """List at most one key under the repository prefix: a signed request that tells valid
        credentials, a missing bucket, a wrong region and the server's clock apart."""
        prefix = (self.location.prefix + "/") if self.location.prefix else ""
        try:
            response = self.client.list_objects_v2(Bucket=self.location.bucket, Prefix=prefix, MaxKeys=1)
        except botocore.exceptions.ClientError as exc:
            error = exc.response.get("Error", {})
            return BucketProbe(error.get("Code") or str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")),
                               error.get("Message", ""), _server_time(exc.response), _bucket_region(exc.response))
        except botocore.exceptions.NoCredentialsError:
            return BucketProbe("NoCredentials", "no AWS credentials found", None, None, answered=False)
        except botocore.exceptions.BotoCoreError as exc:
            return BucketProbe(None, str(exc), None, None, answered=False)
        return BucketProbe(None, "", _server_time(response), _bucket_region(response))

    # --- bucket ----------------------------------------------------------------------------

    def bucket_exists(self) -> bool:
        try:
            self._call("check bucket", self.client.head_bucket, Bucket=self.location.bucket)
            return True
        except errors.S3Error as exc:
            if getattr(exc, "code", "") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise

    def create_bucket(self, *, object_lock: bool) -> None:
        kwargs: dict = {"Bucket": self.location.bucket}
        if self.location.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.location.region}
        if object_lock:
            kwargs["ObjectLockEnabledForBucket"] = True
        self._call("create bucket", self.client.create_bucket, **kwargs)

    def state(self) -> BucketState:
        bucket = self.location.bucket
        versioning = self._call("read versioning", self.client.get_bucket_versioning, Bucket=bucket).get("Status", "Off")
        lock, retention = False, None
        try:
            conf = self._call("read Object Lock", self.client.get_object_lock_configuration, Bucket=bucket)
            conf = conf.get("ObjectLockConfiguration", {})
            lock = conf.get("ObjectLockEnabled") == "Enabled"
            rule = conf.get("Rule", {}).get("DefaultRetention")
            if rule:
                retention = f"{rule.get('Mode')} {rule.get('Days') or rule.get('Years')}" + (" days" if rule.get("Days") else " years")
        except errors.S3Error as exc:
            if exc.code in _UNANSWERED:  # not "no Object Lock": the server did not say
                raise
            if exc.code in _REFUSED:  # not "no Object Lock": drkit cannot tell, and says so
                raise errors.S3Error(f"read Object Lock: S3 refused the request ({exc.code}) for bucket "
                                     f"'{bucket}'", hint="the key needs s3:GetBucketObjectLockConfiguration "
                                     "(drkit iam-policy NAME --role ... grants it)") from None
            lock = False  # ObjectLockConfigurationNotFoundError: the bucket has no Object Lock
        return BucketState(True, versioning, lock, retention)

    def enable_versioning(self) -> None:
        """Object Lock turns versioning on by itself on AWS; servers that do not get it asked."""
        self._call("enable versioning", self.client.put_bucket_versioning, Bucket=self.location.bucket,
                   VersioningConfiguration={"Status": "Enabled"})

    # --- audit reads (docs/immutability.md): each a value, or Unsupported when the server lacks the API

    def read_control(self, control: str) -> dict | None | Unsupported:
        """One bucket-level configuration for `repo audit`: the response (None: not configured), or
        `Unsupported` when the server does not implement that API (SeaweedFS: public access block)."""
        call, absent = _CONTROL_READS[control]
        try:
            response = self._call(f"read {control}", getattr(self.client, call), Bucket=self.location.bucket)
        except errors.S3Error as exc:
            code = getattr(exc, "code", "")
            if code in absent:
                return None
            if code in _NOT_IMPLEMENTED:
                return Unsupported(code)
            raise
        response.pop("ResponseMetadata", None)
        return response

    def list_objects(self, prefix: str) -> list[StoredObject]:
        """Keys with their upload time under `prefix` (current versions)."""
        found: list[StoredObject] = []
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(f"list {prefix}", lambda: list(paginator.paginate(Bucket=self.location.bucket,
                                                                             Prefix=prefix)))
        for page in pages:
            found += [StoredObject(obj["Key"], obj["LastModified"]) for obj in page.get("Contents", [])]
        return found

    def object_retention(self, key: str) -> ObjectRetention:
        """Retention of one object from HEAD (moto lacks GetObjectRetention; HEAD works everywhere)."""
        head = self._call("read retention", self.client.head_object, Bucket=self.location.bucket, Key=key)
        return ObjectRetention(key, head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate"))

    # --- objects ---------------------------------------------------------------------------

    def put_bytes(self, key: str, body: bytes, content_type: str = "application/json") -> None:
        self._call("upload", self.client.put_object, Bucket=self.location.bucket, Key=key, Body=body,
                   ContentType=content_type)

    def get_bytes(self, key: str) -> bytes:
        return self._call("download", self.client.get_object, Bucket=self.location.bucket, Key=key)["Body"].read()

    def object_exists(self, key: str) -> bool:
        try:
            self._call("check object", self.client.head_object, Bucket=self.location.bucket, Key=key)
            return True
        except errors.S3Error as exc:
            if getattr(exc, "code", "") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def list_keys(self, prefix: str) -> list[str]:
        def every_page() -> list[str]:
            paginator = self.client.get_paginator("list_objects_v2")
            return [obj["Key"] for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix)
                    for obj in page.get("Contents", [])]

        # Through _call: a missing bucket or refused credentials are S3Errors, like every other call
        # (tests/integration/test_s3_contract.py).
        return self._call(f"list {prefix}", every_page)

    def object_size(self, key: str) -> int | None:
        """The object's size (HEAD), or None when there is no such key."""
        try:
            return self._call("check object", self.client.head_object, Bucket=self.location.bucket,
                              Key=key)["ContentLength"]
        except errors.S3Error as exc:
            if getattr(exc, "code", "") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def delete_key(self, key: str) -> None:
        """Delete one object (in a versioned bucket: add a delete marker; Object Lock keeps the data)."""
        self._call("delete", self.client.delete_object, Bucket=self.location.bucket, Key=key)

    def lock_new_objects(self, since: datetime, until_date: datetime, mode: str = "COMPLIANCE") -> int:
        """Set COMPLIANCE retention on repository objects written since `since` (restic 0.14 cannot send
        the Content-MD5 that AWS requires with default retention, which is why `repo init` points at lock_days)."""
        prefix = (self.location.prefix + "/") if self.location.prefix else ""
        count = 0
        for obj in self.list_objects(prefix):  # a failed listing is an S3Error: the caller's warning
            # restic's lock files stay deletable: it removes them at the end of every run
            if obj.modified < since or obj.key[len(prefix):].startswith("locks/"):
                continue
            self._call("set retention", self.client.put_object_retention, Bucket=self.location.bucket,
                       Key=obj.key, Retention={"Mode": mode, "RetainUntilDate": until_date})
            count += 1
        return count

    @property
    def evidence_root(self) -> str:
        """`drkit-evidence/` beside the repository directory (bucket root for a one-level prefix)."""
        return self.location.evidence_root

    def evidence_prefix(self, policy: str) -> str:
        return f"{self.evidence_root}{policy}/"

    def keys_prefix(self) -> str:
        return f"{self.evidence_root}keys/"

    def escrow_prefix(self, policy: str) -> str:
        return f"{self.evidence_root.removesuffix(EVIDENCE_PREFIX + '/')}{ESCROW_PREFIX}/{policy}/"

    def escrow_key(self, policy: str, repository: str) -> str:
        """`drkit-escrow/<policy>/<repository>.age` beside `drkit-evidence/`: the repository's
        password sealed to the recovery keys, in its own bucket."""
        return f"{self.escrow_prefix(policy)}{repository}.age"


def _environment_keys() -> dict[str, str] | None:
    """Keys in drkit's environment, the first link of boto3's chain, read without importing boto3
    (~0.5 s, which a backup then spends while restic runs: docs/performance.md). None when boto3
    must decide: no keys, or AWS_PROFILE set (left to boto3's own precedence rules)."""
    if os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE"):
        return None
    key, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    token = os.environ.get("AWS_SESSION_TOKEN") or os.environ.get("AWS_SECURITY_TOKEN")
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret, **({"AWS_SESSION_TOKEN": token} if token else {})}


def _headers(response: dict) -> dict:
    return response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}


def _server_time(response: dict) -> datetime | None:
    from email.utils import parsedate_to_datetime

    date = _headers(response).get("date")
    try:
        return parsedate_to_datetime(date) if date else None
    except (TypeError, ValueError):
        return None


def _bucket_region(response: dict) -> str | None:
    return _headers(response).get("x-amz-bucket-region")
