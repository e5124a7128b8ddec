"""The `cel` binding without its interactive command line.

`import cel` runs the package's `__init__`, which imports `cel.cli`: typer, rich,
prompt_toolkit and pygments for the binding's REPL, about 0.15 s of every
`neuroscale check` for nothing a policy uses. Evaluation needs only the Rust
extension (`cel.cel`) and the pure-Python extension functions (`cel.stdlib`), so
those two are loaded from the installed package without running its `__init__`.
A later `import cel` still runs in full and reuses both modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import TYPE_CHECKING


def _load() -> tuple[ModuleType, ModuleType]:
    """(`cel.cel`, `cel.stdlib`); the package stands in sys.modules, un-run, only while they load."""
    if "cel" in sys.modules:
        return importlib.import_module("cel.cel"), importlib.import_module("cel.stdlib")
    spec = importlib.util.find_spec("cel")
    if spec is None:
        raise ImportError("the `cel` package (common-expression-language) is not installed")
    sys.modules["cel"] = importlib.util.module_from_spec(spec)
    try:
        return importlib.import_module("cel.cel"), importlib.import_module("cel.stdlib")
    finally:
        del sys.modules["cel"]


if TYPE_CHECKING:
    from cel import cel as binding
    from cel import stdlib
else:
    binding, stdlib = _load()

__all__ = ["binding", "stdlib"]
