"""Roles are checked in one place: capabilities declare rights (``<capability>/rights.py``), identity decides.

* every right names roles an operator can grant (``identity.roles.ROLES``) — a misspelt role would lock
  everybody out, or would have to be granted under a name nobody can type;
* no module outside the rights modules compares role names or collects them in sets (the ad-hoc checks
  the policy replaced, ADR 0010), and only identity reads staff bindings.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

from zhengwu.identity.policy import Scope, declared_rights
from zhengwu.identity.roles import ROLES, Reach

SRC = Path(__file__).resolve().parents[2] / "src" / "zhengwu"
# Where role names may be written down: their definition, the rights, the demo seed (which grants them).
ROLE_MODULES = {"identity/roles.py"}
# Identity itself keeps the bindings: its service and models, the policy that reads them, the staff API.
BINDING_MODULES = {"identity/models.py", "identity/service.py", "identity/policy.py", "identity/staff.py"}
ROLE_NAME = re.compile(r"(^|_)ROLES?$|^ROLE_")


def _module(path: Path) -> str:
    return str(path.relative_to(SRC))


def rights_modules() -> list[str]:
    """Dotted names of every ``rights.py`` of the package."""
    return sorted("zhengwu." + _module(p)[: -len(".py")].replace("/", ".") for p in SRC.rglob("rights.py"))


def test_every_right_names_grantable_roles() -> None:
    for name in rights_modules():
        importlib.import_module(name)
    rights = declared_rights()
    # The capabilities that have staff routes each declare their rights.
    assert {r.split(".")[0] for r in rights} >= {"catalog", "seals", "identity", "exchange"}
    for right in rights.values():
        assert right.roles and right.roles <= set(ROLES), right.name
        if right.scope is Scope.PLATFORM:
            assert all(ROLES[r].reach is Reach.PLATFORM for r in right.roles), right.name


def test_a_misspelt_role_is_refused_when_the_right_is_declared() -> None:
    from zhengwu.identity.policy import right

    try:
        right("test.typo", "拼写错误", {"seal_admn"})
    except ValueError as exc:
        assert "seal_admn" in str(exc)
    else:  # pragma: no cover - the assertion message is the failure
        raise AssertionError("a right naming an unknown role was accepted")


def role_checks(tree: ast.AST) -> list[tuple[int, str]]:
    """Role names compared with something, collected in a set, list or tuple display, or kept in a
    ``*_ROLE(S)`` / ``ROLE_*`` constant."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.Set | ast.List | ast.Tuple):
            operands = list(node.elts)
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if not any(isinstance(t, ast.Name) and ROLE_NAME.search(t.id) for t in targets):
                continue
            operands = [node.value]
        else:
            continue
        found += [
            (node.lineno, o.value)
            for o in operands
            if isinstance(o, ast.Constant) and isinstance(o.value, str) and o.value in ROLES
        ]
    return found


def binding_reads(tree: ast.AST) -> list[int]:
    """Lines naming StaffBinding or calling staff_bindings."""
    return [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id in {"StaffBinding", "staff_bindings"})
        or (isinstance(node, ast.Attribute) and node.attr in {"StaffBinding", "staff_bindings"})
    ]


def _exempt_from_role_scan(module: str) -> bool:
    return (
        module in ROLE_MODULES or module.endswith("/rights.py") or module.startswith(("seed/", "commands/"))
    )


def test_roles_are_checked_only_through_the_policy() -> None:
    ad_hoc: dict[str, list[tuple[int, str]]] = {}
    bindings: dict[str, list[int]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module = _module(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not _exempt_from_role_scan(module) and (found := role_checks(tree)):
            ad_hoc[module] = found
        if module not in BINDING_MODULES and (lines := binding_reads(tree)):
            bindings[module] = lines
    assert ad_hoc == {}, "role names checked outside a rights module: declare a Right instead"
    assert bindings == {}, "staff bindings read outside identity: ask identity.policy instead"


def test_the_scans_would_catch_an_ad_hoc_check() -> None:
    source = (
        'ADMIN_ROLES = frozenset({"admin", "platform_admin"})\n'
        'if "seal_admin" in binding.roles: pass\n'
        "rows = service.staff_bindings(db, account_id)\n"
        'ROLE = "counter"\n'
    )
    tree = ast.parse(source)
    assert {name for _, name in role_checks(tree)} == {"admin", "platform_admin", "seal_admin", "counter"}
    assert binding_reads(tree) == [3]
