"""One wiring (ADR 0012): capabilities reach the node through ``kernel.node``, never through ``app.state``.

* only the node module (``attach`` / ``node_of``) touches an application's ``state`` — an attribute set
  there is untyped and a typo is an ``AttributeError`` in some request instead of a failure at start-up;
* there is one settings object: nothing but the composition root, the CLI and the worker reads
  ``Settings()`` from the environment, and no other module defines a ``BaseSettings``;
* no module keeps configuration derived from settings in a module global: identity (keys, lockout,
  password hasher) has no ``global`` statement at all — its context is the node's (issue 10);
* every capability has ``wiring.py`` with ``install(node)`` and ``mount(app, node)``, and main installs it.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "zhengwu"
NODE_MODULES = {"kernel/node.py"}
ENTRY_POINTS = {"main.py", "cli.py", "worker.py", "demo.py"}
CAPABILITIES = ("catalog", "exchange", "identity", "licenses", "ops", "orgs", "pki", "seals")


def _modules() -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(SRC)), ast.parse(p.read_text(), str(p))) for p in sorted(SRC.rglob("*.py"))]


def _is_state_access(node: ast.AST) -> bool:
    """``<app>.state`` where the owner looks like an application (``request.app``, ``scope["app"]``)."""
    if isinstance(node, ast.Attribute) and node.attr == "state":
        owner = node.value
        if isinstance(owner, ast.Subscript):
            return isinstance(owner.slice, ast.Constant) and owner.slice.value == "app"
        name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        return name in {"app", "application"} or name.endswith("_app")
    return False


def test_only_the_node_module_touches_app_state() -> None:
    offenders = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        if name not in NODE_MODULES
        for node in ast.walk(tree)
        if _is_state_access(node)
    ]
    assert offenders == [], f"use kernel.node.node_of / CurrentNode instead of app.state: {offenders}"


def test_the_detector_sees_state_lookups() -> None:
    tree = ast.parse(
        "request.app.state.a\ngetattr(app.state, 'x')\nself.app.state.y = 1\nscope['app'].state.z\nz.state"
    )
    assert sum(_is_state_access(n) for n in ast.walk(tree)) == 4


def test_one_settings_object() -> None:
    readers: list[str] = []
    declared: list[str] = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", "")) == "BaseSettings" for base in node.bases
            ):
                declared.append(f"{name}:{node.name}")
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Settings"
                and not node.args
                and not node.keywords
                and name not in ENTRY_POINTS
                and not name.startswith("commands/")
            ):
                readers.append(f"{name}:{node.lineno}")
    assert declared == ["kernel/config.py:Settings"]
    assert readers == [], f"take the node's settings instead of reading the environment again: {readers}"


def test_identity_keeps_no_module_global() -> None:
    rebinds = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        if name.startswith("identity/")
        for node in ast.walk(tree)
        if isinstance(node, ast.Global)
    ]
    assert rebinds == [], f"identity's configuration is the node's (identity.context.of): {rebinds}"


def test_every_capability_has_a_wiring_module_that_main_installs() -> None:
    from zhengwu import main

    installed = {module.__name__ for module in main._capabilities()}
    for capability in CAPABILITIES:
        wiring = importlib.import_module(f"zhengwu.{capability}.wiring")
        assert next(iter(inspect.signature(wiring.install).parameters)) == "node", capability
        assert list(inspect.signature(wiring.mount).parameters) == ["app", "node"], capability
        assert capability == "exchange" or wiring.__name__ in installed, capability


# What the exchange may use of identity: the one staff-rights policy (ADR 0010), the provider's token check
# for client credentials, and the typed key of the provider on the node.
EXCHANGE_MAY_IMPORT = (
    "zhengwu.identity.policy",
    "zhengwu.identity.oidc.tokens",
    "zhengwu.identity.servicekeys",
)


def test_the_exchange_imports_no_capability_whose_rows_it_carries() -> None:
    """Capabilities declare their topics (kernel.topics) and main collects them (ADR 0012)."""
    capabilities = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    # Layers below the exchange that every capability uses: the audit's chain and change log among them
    # (its signed-heads topic is declared by the audit itself and collected in main like the others).
    others = {f"zhengwu.{c}" for c in capabilities - {"exchange", "kernel", "orgs", "pki", "audit"}}
    offenders: list[str] = []
    for name, tree in _modules():
        if not name.startswith("exchange/"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target.startswith(EXCHANGE_MAY_IMPORT):
                    continue
                if any(target == o or target.startswith(o + ".") for o in others):
                    offenders.append(f"{name}:{node.lineno} {target}")
    assert offenders == [], offenders
