"""Key escrow without servers (drkit/engines/escrow.py, docs/security.md): what is sealed opens
with the matching identity only, recipients and identity files are checked with one clear line,
and each password source gives exactly what restic would read."""

from __future__ import annotations

import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pyrage
import pytest

from drkit.core import errors
from drkit.core.policy import Repository
from drkit.engines.catalog import Catalog, EscrowRow
from drkit.engines.escrow import RecoveryKey, current_password, load_identities, seal, unseal
from drkit.engines.s3 import S3


def identity_file(tmp_path: Path, name: str = "recovery.key") -> tuple[Path, str]:
    identity = pyrage.x25519.Identity.generate()
    path = tmp_path / name
    path.write_text(f"# created: today\n# public key: {identity.to_public()}\n{identity}\n")
    return path, str(identity.to_public())


def test_sealed_password_opens_with_any_recipient_identity_and_no_other(tmp_path: Path):
    first, first_public = identity_file(tmp_path, "a.key")
    second, second_public = identity_file(tmp_path, "b.key")
    stranger, _ = identity_file(tmp_path, "c.key")
    blob = seal(b"s3cret\n", [RecoveryKey.parse(first_public), RecoveryKey.parse(second_public)])
    assert blob.startswith(b"age-encryption.org/v1\n") and b"s3cret" not in blob
    assert unseal(blob, load_identities(first), "blob") == b"s3cret\n"
    assert unseal(blob, load_identities(second), "blob") == b"s3cret\n"
    with pytest.raises(errors.VerificationError, match="does not open"):
        unseal(blob, load_identities(stranger), "blob")


def test_ssh_keys_are_recipients_and_identities(tmp_path: Path):
    key = tmp_path / "id_ed25519"
    made = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("ssh-keygen unavailable")
    blob = seal(b"pw", [RecoveryKey.parse(key.with_suffix(".pub").read_text())])
    assert unseal(blob, load_identities(key), "blob") == b"pw"


@pytest.mark.parametrize("text, says", [("age1notakey", "not a valid age recipient"),
                                        ("AGE-SECRET-KEY-1QQQ", "give an age public key"),
                                        ("", "give an age public key")])
def test_a_bad_recipient_is_one_usage_line(text: str, says: str):
    with pytest.raises(errors.UsageError, match=says) as caught:
        RecoveryKey.parse(text)
    assert "\n" not in str(caught.value)


def test_an_identity_file_without_an_identity_says_what_it_expects(tmp_path: Path):
    public_only = tmp_path / "public.txt"
    public_only.write_text("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n")
    with pytest.raises(errors.UsageError, match="no age identity in it"):
        load_identities(public_only)
    with pytest.raises(errors.UsageError, match="cannot read it"):
        load_identities(tmp_path / "missing.key")


def test_each_password_source_gives_what_restic_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    file = tmp_path / "pass"
    file.write_bytes(b"from-file\n")
    assert current_password(Repository(url="local:/r", password_file=file)) == b"from-file\n"
    assert current_password(Repository(url="local:/r", password_command=["printf", "from-command"])) == b"from-command"
    monkeypatch.setenv("DRKIT_TEST_PW", "from-env")
    assert current_password(Repository(url="local:/r", password_env="DRKIT_TEST_PW")) == b"from-env"
    file.write_bytes(b"\n")
    with pytest.raises(errors.PasswordUnavailable, match="empty password"):
        current_password(Repository(url="local:/r", password_file=file))
    with pytest.raises(errors.PasswordUnavailable, match="password command false exited 1"):
        current_password(Repository(url="local:/r", password_command=["false"]))


@pytest.mark.parametrize("url, key", [("s3:http://h:9000/b/shop", "drkit-escrow/shop/primary.age"),
                                      ("s3:http://h:9000/b/dr/shop", "dr/drkit-escrow/shop/primary.age")])
def test_the_escrow_sits_beside_the_evidence(url: str, key: str):
    s3 = S3(Repository(url=url, password_file=Path("/p")))
    assert s3.escrow_key("shop", "primary") == key
    assert s3.evidence_root.replace("drkit-evidence", "drkit-escrow") + "shop/primary.age" == key


def test_the_catalog_keeps_recipients_of_an_escrow_a_bucket_sighting_does_not_erase(tmp_path: Path):
    catalog = Catalog(tmp_path / "catalog.sqlite")
    at = datetime(2026, 11, 23, tzinfo=timezone.utc)
    catalog.note_escrow(EscrowRow("shop", "primary", "drkit-escrow/shop/primary.age", ("age1a", "age1b"), at))
    catalog.note_escrow_seen(EscrowRow("shop", "primary", "drkit-escrow/shop/primary.age", (), at))
    assert catalog.escrows("shop")["primary"].recipients == ("age1a", "age1b")
    assert catalog.escrows("other") == {}
