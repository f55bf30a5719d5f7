"""The seal of an HTML report: its JSON model embedded in the page, that model's sha256 and an
Ed25519 signature by the host's evidence key over the whole page (docs/reports.md, "Sealed HTML").

An auditor receives a file, not a catalog: the page carries the figures as data (the same
`drkit.report/1` document `--format json` prints) and a signature over every byte of the page
except the signature itself, so a changed number, colour or sentence anywhere makes
`drkit evidence verify --report FILE.html` exit 4.

The page holds two data blocks (never executed: `type="application/json"`):

    <script type="application/json" id="drkit-report-model">{…drkit.report/1…}</script>
    <script type="application/json" id="drkit-report-seal">{"key_id":…,"model_sha256":…,"schema":…,"signature":…}</script>

The signed message is the page with the seal block's `signature` empty (canonical JSON, as
evidence records are signed: drkit/evidence/records.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from markupsafe import Markup

from drkit.evidence.records import SigningKey, canonical_json

SCHEMA = "drkit.report-seal/1"
MODEL_ID, SEAL_ID = "drkit-report-model", "drkit-report-seal"
KEY_ELEMENT = '<code id="drkit-report-key">{}</code>'  # the visible key id; "(unsigned)" until sealed
UNSIGNED_KEY = KEY_ELEMENT.format("(unsigned)")
_BLOCK = '<script type="application/json" id="{id}">{body}</script>'
_FIND = {name: re.compile(r'<script type="application/json" id="' + name + r'">(.*?)</script>', re.S)
         for name in (MODEL_ID, SEAL_ID)}


def embedded_json(text: str) -> str:
    """JSON safe inside a <script> element: `<` as its JSON escape, so no `</script>` or `<!--` in
    a caveat can end the block; the text still parses to the same data."""
    return text.replace("<", "\\u003c")


def model_digest(model_text: str) -> str:
    return hashlib.sha256(model_text.encode("utf-8")).hexdigest()


def _seal_body(digest: str, key_id: str, signature: str) -> str:
    return canonical_json({"schema": SCHEMA, "model_sha256": digest, "key_id": key_id,
                           "signature": signature}).decode("utf-8")


@dataclass(frozen=True)
class ModelBlocks:
    """What the HTML template embeds: the model, its digest, and the seal block left unsigned."""

    model: Markup
    seal: Markup
    sha256: str


def model_blocks(report_json: str) -> ModelBlocks:
    text = embedded_json(report_json.strip())
    digest = model_digest(text)
    return ModelBlocks(Markup(_BLOCK.format(id=MODEL_ID, body=text)),
                       Markup(_BLOCK.format(id=SEAL_ID, body=_seal_body(digest, "", ""))), digest)


def seal_page(page: str, key: SigningKey) -> str:
    """Sign a rendered page with the host's evidence key: fill in the key id (seal block and the
    visible line naming it), sign the page, put the signature in the seal block."""
    match = _FIND[SEAL_ID].search(page)
    if match is None:
        raise ValueError("the page has no seal block")
    digest = json.loads(match.group(1))["model_sha256"]
    page = page.replace(UNSIGNED_KEY, KEY_ELEMENT.format(key.key_id), 1)
    unsigned = _replace_seal(page, _seal_body(digest, key.key_id, ""))
    signature = base64.b64encode(key.private.sign(unsigned.encode("utf-8"))).decode("ascii")
    return _replace_seal(unsigned, _seal_body(digest, key.key_id, signature))


def _replace_seal(page: str, body: str) -> str:
    match = _FIND[SEAL_ID].search(page)
    assert match is not None
    return page[:match.start(1)] + body + page[match.end(1):]


@dataclass(frozen=True)
class SealCheck:
    """The outcome of checking a page: the facts found and every problem (none: it verifies)."""

    problems: list[str]
    key_id: str | None = None
    model_sha256: str | None = None
    policies: int = 0


def check_page(page: str, keys: dict[str, Ed25519PublicKey]) -> SealCheck:
    """Check that the embedded model still hashes to the sealed digest and that the signature
    over the page holds under a known key."""
    model, seal = (_FIND[name].findall(page) for name in (MODEL_ID, SEAL_ID))
    if len(model) != 1 or len(seal) != 1:
        return SealCheck(["not a drkit HTML report: it must hold exactly one embedded model and one seal "
                          f"(found {len(model)} and {len(seal)})"])
    try:
        fields = json.loads(seal[0])
        digest, key_id, signature = fields["model_sha256"], fields["key_id"], fields["signature"]
        policies = len(json.loads(model[0])["policies"])
    except (ValueError, KeyError, TypeError) as exc:
        return SealCheck([f"the embedded model or seal is not valid JSON ({type(exc).__name__}: {exc})"])
    problems = []
    if model_digest(model[0]) != digest:
        problems.append(f"the embedded JSON model hashes to {model_digest(model[0])[:16]}…, the seal says "
                        f"{str(digest)[:16]}… (the model was edited)")
    problems += _signature_problems(page, digest, key_id, signature, keys)
    return SealCheck(problems, key_id or None, digest, policies)


def _signature_problems(page: str, digest: str, key_id: str, signature: str,
                        keys: dict[str, Ed25519PublicKey]) -> list[str]:
    if not key_id or not signature:
        return ["the report is not signed (rendered outside `drkit report`?)"]
    key = keys.get(key_id)
    if key is None:
        return [f"signed by unknown evidence key {key_id} (import it: drkit catalog rebuild, or verify on the "
                "host that made the report)"]
    message = _replace_seal(page, _seal_body(digest, key_id, ""))
    try:
        key.verify(base64.b64decode(signature), message.encode("utf-8"))
    except (InvalidSignature, ValueError):
        return [f"signature by key {key_id} does not match the page (edited after it was made?)"]
    return []
