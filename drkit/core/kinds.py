"""Registries of the kinds a policy list accepts: `targets:`, `drill.checks:`, `notify:`.

Each item of those lists is a mapping whose YAML key selects its kind (`- sqlite: /var/lib/app.db`,
`- webhook: https://…`). A kind is a pydantic model for that mapping plus the behaviour the owning
package attaches to it (a target kind, a check function, a delivery channel). Kinds register at
import time — drkit's own from their modules, others from plug-ins (drkit/plugins.py) — and a
registry is read when a policy is validated or its schema printed, so a kind registered at run
time is accepted like a built-in one. See docs/extending.md.

The registry objects live in drkit/core/policy.py, next to the fields they govern; the packages
that implement kinds import them from there, and the registry imports its package of built-in kinds
on first use (never at module level: those packages import drkit.core.policy).
"""

from __future__ import annotations

import importlib
import threading
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

K = TypeVar("K")


class KindRegistry(Generic[K]):
    """YAML key -> (model, behaviour) for one list of a policy.

    Used as pydantic metadata (`list[Annotated[Model, TARGETS]]`): an item is validated by the model
    of the one registered key it carries, so errors keep their place (`targets[2].sqlite: …`), and an
    item with no registered key is one "unknown kind" error listing the keys registered now.
    """

    def __init__(self, section: str, builtins: str):
        self.section = section  # the policy field, for messages
        self._builtins = builtins  # module whose import registers drkit's own kinds
        self._models: dict[str, type[BaseModel]] = {}
        self._kinds: dict[type[BaseModel], tuple[str, K]] = {}
        self._loaded = False
        self._lock = threading.RLock()

    # --- registering -----------------------------------------------------------------------------

    def add(self, key: str, model: type[BaseModel], kind: K) -> None:
        """Register `model` under `key`; `kind` is what the owning package needs to run it."""
        if key not in {f.alias or name for name, f in model.model_fields.items()}:
            raise ValueError(f"{self.section} kind '{key}': {model.__name__} has no field '{key}' to select it")
        with self._lock:
            current = self._models.get(key)
            if current is not None and _name(current) != _name(model):
                raise ValueError(f"{self.section} kind '{key}' is already registered by {current.__module__}")
            if current is not None:
                self._kinds.pop(current, None)  # the same module imported again (a reload)
            self._models[key] = model
            self._kinds[model] = (key, kind)

    def remove(self, key: str) -> None:
        """Forget a kind (tests that register one for a while)."""
        with self._lock:
            model = self._models.pop(key, None)
            self._kinds.pop(model, None)  # type: ignore[arg-type]

    # --- reading ---------------------------------------------------------------------------------

    def keys(self) -> list[str]:
        self._load()
        return list(self._models)

    def models(self) -> list[type[BaseModel]]:
        self._load()
        return list(self._models.values())

    def key_of(self, model: type[BaseModel]) -> str:
        self._load()
        return self._kinds[model][0]

    def of(self, item: BaseModel) -> K:
        """The behaviour registered for a validated item; KeyError for a model never registered."""
        self._load()
        return self._kinds[type(item)][1]

    def get(self, item: Any) -> K | None:
        self._load()
        entry = self._kinds.get(type(item))
        return entry[1] if entry else None

    def _load(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                importlib.import_module(self._builtins)
                self._loaded = True

    # --- validation (pydantic) --------------------------------------------------------------------

    def validate(self, item: Any) -> BaseModel:
        self._load()
        if type(item) in self._kinds:
            return item
        keys = ", ".join(self._models)
        if not isinstance(item, dict):
            raise PydanticCustomError("kind_type", "expected a mapping with one of the keys {keys}", {"keys": keys})
        found = [key for key in self._models if key in item]
        if not found:
            raise PydanticCustomError("unknown_kind", "unknown kind {found}; expected one of the keys {keys}",
                                      {"found": sorted(map(str, item)), "keys": keys})
        if len(found) > 1:
            raise PydanticCustomError("several_kinds", "one kind per item, found the keys {found}; "
                                      "write each as its own list item", {"found": ", ".join(found)})
        return self._models[found[0]].model_validate(item)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # Dispatch at validation time (not a union fixed when the Policy class is built), so kinds
        # registered later are accepted; serialising goes by each item's own model.
        return core_schema.no_info_plain_validator_function(self.validate)

    def __get_pydantic_json_schema__(self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler) -> dict:
        return {"anyOf": [handler(model.__pydantic_core_schema__) for model in self.models()]}

    def __repr__(self) -> str:
        return f"KindRegistry({self.section!r})"


def _name(model: type) -> str:
    return f"{model.__module__}.{model.__qualname__}"
