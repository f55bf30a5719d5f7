"""Offline syntax check of restic repository strings (drkit/core/locations.py)."""

import pytest

from drkit.core.locations import check_repository_url


@pytest.mark.parametrize("url", [
    "s3:https://s3.eu-north-1.amazonaws.com/acme-dr/shop-db",
    "s3:https://s3.amazonaws.com/bucket",
    "s3:s3.amazonaws.com/bucket",
    "s3:s3.amazonaws.com/bucket/a/b",
    "s3:http://127.0.0.1:8333/t-1a2b3c4d/shop",
    "s3:http://h/b/p",
    "s3:http://[::1]:9000/bucket/p",
    "s3:https://user:keyid@s3.example.com/bucket/db",
    "s3:http://minio.internal:9000/Legacy_Bucket/x",
    "/srv/restic-repo",
    "local:/srv/restic-repo",
])
def test_accepted(url):
    assert check_repository_url(url) == url


@pytest.mark.parametrize("url,expected", [
    ("s3:htp://host/b", "unknown scheme 'htp'"),
    ("s3:ftp://host/b", "unknown scheme 'ftp'"),
    ("s3:https://host", "names no bucket"),
    ("s3:https://host/", "names no bucket"),
    ("s3:host", "names no bucket"),
    ("s3:", "is not a host name"),
    ("s3:https:///bucket", "is not a host name"),
    ("s3:https://ho st/b", "no spaces or control characters"),
    ("s3:https://host:99999/b", "the port must be a number from 1 to 65535"),
    ("s3:https://host:abc/b", "the port must be a number"),
    ("s3:https://host/b?x=1", "no '?' or '#'"),
    ("s3:https://host/-bad/p", "is not a bucket name"),
    ("s3:https://host/b/../p", "'..' in the repository prefix"),
    ("s3:https://bad..host/b", "is not a host name"),
    ("/dev/null", "dev is a virtual file system"),
    ("/proc/self", "proc is a virtual file system"),
    ("local:relative/dir", "must be an absolute directory path"),
    ("sftp:host:/srv/repo", "drkit supports s3:… repositories"),
    ("relative/dir", "drkit supports s3:… repositories"),
    ("/srv/re\x00po", "no spaces or control characters"),
])
def test_refused_with_a_reason(url, expected):
    with pytest.raises(ValueError) as exc:
        check_repository_url(url)
    assert expected in str(exc.value)
    assert "\n" not in str(exc.value)
