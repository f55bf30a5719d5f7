"""Application checks a drill runs on the restored tree (policy `drill.checks`; docs/drill.md).

One module per kind, each registering its model and function with `@register_check`
(drkit/checks/registry.py); adding a kind is one module (docs/extending.md). Paths in checks are
confined to the sandbox (drkit/checks/paths.py).
"""

from __future__ import annotations

from drkit.checks.expect import value_problem
from drkit.checks.paths import restored_location, sandbox_path, target_copy
from drkit.checks.registry import (
    CheckContext,
    CheckError,
    CheckFailed,
    CheckKind,
    CheckResult,
    DatabaseLookup,
    ManualContext,
    check_command,
    check_name,
    database_of,
    register_check,
    run_check,
    run_checks,
)

# The built-in kinds register themselves on import, in the order the docs list them.
from drkit.checks import file_exists, sqlite, server_query, command  # noqa: E402, F401, I001  isort: skip

__all__ = ["CheckContext", "CheckError", "CheckFailed", "CheckKind", "CheckResult", "DatabaseLookup", "ManualContext",
           "check_command", "check_name", "database_of", "register_check", "restored_location", "run_check", "run_checks",
           "sandbox_path",
           "target_copy", "value_problem"]
