"""How far a role reaches (identity.roles) and how rights are declared (identity.policy)."""

from __future__ import annotations

import pytest
from policy_kit import World, add_department
from sqlalchemy.orm import Session

from zhengwu.identity import service as identity
from zhengwu.identity.audit import NO_META
from zhengwu.identity.deps import Authenticated
from zhengwu.identity.policy import Binding, Scope, StaffPrincipal, right
from zhengwu.identity.roles import ROLES, Reach

ITEMS = right("test.items", "测试：本部门事项", {"admin", "dept_admin", "platform_admin"})
SIGN = right("test.sign", "测试：签章", {"seal_user"})


def _principal(session: Session, world: World, *bindings: Binding) -> StaffPrincipal:
    account = world.staff_account(world.office, ["seal_user"])
    user_session = identity.start_session(session, account, amr=["otp", "pwd"])
    return StaffPrincipal(Authenticated(user_session, account), bindings, session, NO_META, "/test")


def test_every_role_has_a_reach() -> None:
    assert {r.reach for r in ROLES.values()} == set(Reach)
    assert ROLES["admin"].reach is Reach.SUBTREE and ROLES["platform_admin"].reach is Reach.PLATFORM


def test_a_subtree_role_reaches_every_level_below_and_nothing_beside(session: Session, world: World) -> None:
    grandchild = add_department(session, "正定县市场监督管理局", "130123", world.a_child)
    admin = _principal(session, world, Binding(world.a.id, frozenset({"admin"})))
    assert admin.departments(ITEMS) == {world.a.id, world.a_child.id, grandchild.id}
    assert admin.reaches(ITEMS, grandchild.id) and not admin.reaches(ITEMS, world.b.id)
    assert not admin.reaches(ITEMS, None)  # the node's own objects need platform reach
    # The same department, a role of department reach: that department only.
    items_only = _principal(session, world, Binding(world.a.id, frozenset({"dept_admin"})))
    assert items_only.departments(ITEMS) == {world.a.id}
    # A role the right does not name gives nothing, wherever it is held.
    assert not _principal(session, world, Binding(world.a.id, frozenset({"counter"}))).holds(ITEMS)


def test_platform_reach_covers_everything_the_right_names_and_only_that(
    session: Session, world: World
) -> None:
    platform = _principal(session, world, Binding(world.office.id, frozenset({"platform_admin"})))
    assert platform.departments(ITEMS) is None and platform.reaches(ITEMS, world.b.id)
    assert platform.reaches(ITEMS, None)
    # Signing does not name platform_admin: no administrator signs in a department's place.
    assert not platform.holds(SIGN) and not platform.reaches(SIGN, world.a.id)


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="only roles of platform reach"):
        right("test.platform_by_department", "测试", {"admin"}, scope=Scope.PLATFORM)
    with pytest.raises(ValueError, match="declared twice"):
        right("test.items", "测试：另一个定义", {"admin"})
    assert right("test.items", "测试：本部门事项", {"admin", "dept_admin", "platform_admin"}) == ITEMS
