"""Every staff role a capability checks is one an operator can grant (identity.roles.STAFF_ROLES).

Capabilities keep their own role sets (catalog, seals, OIDC management, the counter); a misspelt role
there would silently lock everybody out, or would have to be granted under a name nobody can type.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from zhengwu.identity.roles import ADMIN_ROLES, STAFF_ROLES

SRC = Path(__file__).resolve().parents[2] / "src" / "zhengwu"
ROLE_NAME = re.compile(r"(^|_)ROLES?$|^ROLE_")


def _strings(node: ast.AST) -> list[str]:
    """String constants of a literal, a set/frozenset/tuple/list display or frozenset({...}) call."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Set | ast.Tuple | ast.List):
        return [s for elt in node.elts for s in _strings(elt)]
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"frozenset", "set"} and node.args:
        return _strings(node.args[0])
    return []


def roles_in(tree: ast.AST) -> set[str]:
    """Role names in one module: module-level *ROLE(S) constants and require_staff(...) arguments."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if node.value is not None and any(ROLE_NAME.search(n) for n in names):
                found.update(_strings(node.value))
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require_staff":
            found.update(s for arg in node.args for s in _strings(arg))
    return found


def checked_roles() -> dict[str, set[str]]:
    """Role names per module of the package (identity.roles itself left out)."""
    found = {
        str(path.relative_to(SRC)): roles_in(ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(SRC.rglob("*.py"))
    }
    return {where: roles for where, roles in found.items() if roles and where != "identity/roles.py"}


def test_every_checked_role_can_be_granted() -> None:
    found = checked_roles()
    # The scan sees the role sets of catalog, seals, OIDC management and the counter.
    assert {"catalog/access.py", "seals/routes.py", "identity/oidc/api.py", "identity/counter.py"} <= set(
        found
    )
    unknown = {
        where: sorted(roles - set(STAFF_ROLES)) for where, roles in found.items() if roles - set(STAFF_ROLES)
    }
    assert unknown == {}
    assert set(STAFF_ROLES) >= ADMIN_ROLES


def test_the_scan_would_catch_a_misspelt_role() -> None:
    source = (
        'SEAL_ROLES: Final = frozenset({"seal_admn"})\nROLE_X = "x"\ndep = Depends(require_staff("countr"))\n'
    )
    assert roles_in(ast.parse(source)) == {"seal_admn", "x", "countr"}
