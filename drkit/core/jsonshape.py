"""One JSON shape per result type: the documents read commands print with `--json` (docs/json.md).

Every document is an object whose first key is `"schema": "drkit.<type>/<version>"`, so a consumer
can tell what it holds and whether it understands that version. Within one version keys are only
ever added; renaming or removing one means a new version.

`SHAPES` declares every schema id with the command that prints it and one line on what it holds
(docs and tests enumerate it without importing every module). A result type binds itself to its
id by subclassing `JsonDocument` with `schema=...` and implementing `json_fields()`; `to_json()`
then adds the schema id, so no caller builds a document by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class Shape:
    schema: str  # drkit.<type>/<version>
    command: str  # the command line that prints it
    description: str


SHAPES: tuple[Shape, ...] = (
    Shape("drkit.status/1", "drkit status --json", "exposure now vs RPO and last drill vs RTO, per policy"),
    Shape("drkit.snapshots/1", "drkit snapshots NAME --json", "a policy's snapshots as listed by its repository"),
    Shape("drkit.snapshot-files/1", "drkit ls NAME --json",
          "what one snapshot holds at and below a path: entries with type, size and modification time"),
    Shape("drkit.policy-explanation/1", "drkit policy explain NAME --json",
          "the resolved policy and whether its backup schedule can meet the RPO"),
    Shape("drkit.policy-validation/1", "drkit policy validate --json",
          "policy files checked: the valid ones, every problem with file and line, schedule warnings"),
    Shape("drkit.policy-where/1", "drkit policy where --json",
          "the policies directory and state directory in use, why each was chosen, and where drkit looked"),
    Shape("drkit.report/1", "drkit report --format json", "RPO/RTO attainment over a period, per policy"),
    Shape("drkit.evidence-verification/1", "drkit evidence verify --json",
          "signatures and prev-chains of evidence records: counts and every problem"),
    Shape("drkit.catalog-rebuild/1", "drkit catalog rebuild --json",
          "per policy: snapshots listed, evidence objects read, records and keys imported"),
    Shape("drkit.scheduler-plan/1", "drkit scheduler plan --json", "the next runs of every scheduled job"),
    Shape("drkit.repo-init/1", "drkit repo init NAME --json",
          "bucket and restic repository created or found, and the bucket's protection state"),
    Shape("drkit.repo-audit/1", "drkit repo audit NAME --json",
          "the bucket's immutability controls, each OK, MISSING, UNSUPPORTED or UNKNOWN against the policy"),
    Shape("drkit.iam-policy/1", "drkit iam-policy NAME --role ROLE --json",
          "a least-privilege AWS IAM policy document for one drkit role on the policy's repositories"),
    Shape("drkit.doctor/1", "drkit doctor --json",
          "online checks of what the policies rely on: one finding per check with its status and fix"),
    Shape("drkit.run/1", "drkit restore-drill NAME --json, drkit restore NAME --json, drkit forget NAME --json, "
                         "drkit repo check NAME --json",
          "how one job run ended: status, exit code, error, the job's detail and its signed evidence record"),
    Shape("drkit.runs/1", "drkit backup NAME... --json, drkit copy NAME --json, drkit forget NAME --json",
          "one drkit.run/1 document per policy backed up, or per repository copied to or thinned out"),
)

BY_SCHEMA: dict[str, Shape] = {shape.schema: shape for shape in SHAPES}
_TYPES: dict[str, type[JsonDocument]] = {}


class JsonDocument:
    """Base of every result a command prints with `--json`.

    `class StatusBoard(JsonDocument, schema="drkit.status/1")` binds the type to a declared id (a
    typo or a second type for one id fails at import); the subclass implements `json_fields()`.
    """

    schema_id: ClassVar[str]

    def __init_subclass__(cls, schema: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if schema is None:
            return
        if schema not in BY_SCHEMA:
            raise TypeError(f"{cls.__name__}: schema id {schema!r} is not declared in drkit.core.jsonshape.SHAPES")
        if schema in _TYPES and _TYPES[schema].__qualname__ != cls.__qualname__:
            raise TypeError(f"{cls.__name__}: schema id {schema!r} already belongs to {_TYPES[schema].__name__}")
        cls.schema_id = schema
        _TYPES[schema] = cls

    def json_fields(self) -> dict[str, Any]:
        """The document's keys after `schema`: JSON types only (times as ISO 8601 UTC text)."""
        raise NotImplementedError

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema_id, **self.json_fields()}


def result_type(schema: str) -> type[JsonDocument] | None:
    """The type bound to a schema id, once its module is imported."""
    return _TYPES.get(schema)


def dumps(document: JsonDocument) -> str:
    """The document as printed: indented, `schema` first, strict JSON (no NaN or Infinity)."""
    return json.dumps(document.to_json(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
