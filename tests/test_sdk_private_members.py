"""No plugin touches a private singer-sdk member except through `schemahub_core.sdk_seam`.

ruff's SLF001 flags `other._member` but not `self._member`, and a subclass of an SDK class
reaches the SDK's privates through `self`. This test covers that blind spot: in every class
of the taps, the target and core that subclasses a singer-sdk class, it finds uses of the
SDK's private members via `self`/`cls`/`super()` and overrides of its private methods. Uses
must go through the seam; overrides must be listed in `sdk_seam.TARGET_HOOK_OVERRIDES`,
whose signatures schemahub-core/tests/test_sdk_seam.py checks against the installed SDK.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

from schemahub_core import sdk_seam

PACKAGES = ("schemahub_core", "tap_coinbase", "tap_binance", "tap_kraken", "target_s3_parquet")


def _modules_that_may_subclass_the_sdk() -> list[str]:
    """Modules naming singer_sdk, or subclassing a class of one (found without importing)."""
    sources = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module_info in pkgutil.walk_packages(package.__path__, f"{name}."):
            spec = importlib.util.find_spec(module_info.name)
            if spec is not None and spec.origin and not module_info.name.endswith("__main__"):
                sources[module_info.name] = Path(spec.origin).read_text()
    chosen = {name for name, source in sources.items() if "singer_sdk" in source}
    while True:
        bases = {
            node.name
            for name in chosen
            for node in ast.walk(ast.parse(sources[name]))
            if isinstance(node, ast.ClassDef)
        }
        more = {
            name
            for name, source in sources.items()
            if name not in chosen and re.search(rf"class \w+\(({'|'.join(bases)})\b", source)
        }
        if not more:
            return sorted(chosen)
        chosen |= more


def _plugin_classes() -> list[type]:
    """Every class defined in the modules that may subclass a singer-sdk class."""
    classes: list[type] = []
    for name in _modules_that_may_subclass_the_sdk():
        module = importlib.import_module(name)
        classes += [
            value
            for value in vars(module).values()
            if inspect.isclass(value) and value.__module__ == module.__name__
        ]
    return classes


@functools.cache
def _private_members_of(sdk_class: type) -> frozenset[str]:
    """Private methods and attributes one singer-sdk class defines or sets on instances."""
    names = {name for name in vars(sdk_class) if name.startswith("_") and "__" not in name}
    # Attributes the SDK sets on instances (`self._sinks_active = {}` ...).
    names |= set(re.findall(r"self\.(_[a-z]\w*)\s*[:=]", inspect.getsource(sdk_class)))
    return frozenset(names)


def _sdk_private_members(cls: type) -> set[str]:
    """Private members of the singer-sdk classes `cls` inherits."""
    return {
        name
        for base in cls.__mro__
        if base.__module__.startswith("singer_sdk")
        for name in _private_members_of(base)
    }


def _private_uses(cls: type, private: set[str]) -> list[str]:
    """`self._x` / `super()._x` uses and `def _x` overrides of SDK privates in `cls`'s body."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    where = f"{cls.__module__}.{cls.__qualname__}"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in private:
            if node.name not in sdk_seam.TARGET_HOOK_OVERRIDES:
                found.append(f"{where} overrides {node.name}")
        elif isinstance(node, ast.Attribute) and node.attr in private:
            owner = node.value
            via_self = isinstance(owner, ast.Name) and owner.id in {"self", "cls"}
            via_super = isinstance(owner, ast.Call) and getattr(owner.func, "id", "") == "super"
            if via_self or via_super:
                found.append(f"{where} uses {node.attr} (line {node.lineno} of the class)")
    return found


def test_plugins_reach_private_sdk_members_only_through_the_seam():
    sdk_subclasses = [
        cls
        for cls in _plugin_classes()
        if any(base.__module__.startswith("singer_sdk") for base in cls.__mro__[1:])
    ]
    assert len(sdk_subclasses) >= 8  # taps, streams, the target, its sink and reader
    found = [use for cls in sdk_subclasses for use in _private_uses(cls, _sdk_private_members(cls))]
    assert found == [], (
        "private singer-sdk members used outside schemahub_core.sdk_seam: add a function "
        f"there (and to its pinned test), or list an overridden hook in TARGET_HOOK_OVERRIDES: "
        f"{found}"
    )
