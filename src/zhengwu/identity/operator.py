"""The operator of a privileged command: a named staff account, its second factor, the staff-rights policy.

A command run on the node's server (seals revoke, a role granted, a key rotated, a backup restored...) is
a staff action like its HTTP route, so it is decided the same way (等保 8.1.4.1.d, 8.1.4.2): the operator
names their staff account and gives a TOTP code of it; the account must hold the command's right under
the one policy (``identity.policy.bindings_hold``: 三员 separation and reach included). The OS account
still matters — the bastion host names the person behind it — so both go into the records: the change
log's actor is ``account:<id> cli:<os user>``.

Every refusal is an authentication-audit event kept whatever becomes of the command (the caller commits
errors marked ``keep_writes``); a wrong code counts toward the account's lockout exactly as at login
(``identity.mfa.verify_second_factor``).

**Break-glass.** An empty node has nobody to authorise the first administrator. A command marked
``bootstrap`` (creating a department or a staff account, loading the demo) runs without an operator
while no active staff account with a second factor holds its right — and is recorded as
``break_glass``. Once someone could authorise it, it needs them.

Takes the session, never commits.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.audit.apart import write_apart
from zhengwu.identity.audit import RequestMeta, record_auth_event
from zhengwu.identity.errors import KeepsAudit
from zhengwu.identity.mfa import verify_second_factor
from zhengwu.identity.models import Account, AccountKind, AccountStatus
from zhengwu.identity.policy import Right, anyone_could_authorise, bindings_hold, bindings_of, bindings_reach
from zhengwu.kernel.errors import DomainError


class OperatorRefused(KeepsAudit, DomainError):
    """A privileged command was refused: no operator, unknown operator, or a right the operator lacks."""

    status_code = 403
    code = "identity.operator_refused"
    default_detail = "该命令须由具有相应权限的工作人员执行"


@dataclass(frozen=True, slots=True)
class Operator:
    """Who a privileged command acts as."""

    os_user: str
    account_id: str | None = None
    login_name: str | None = None
    break_glass: bool = False
    command: str = ""

    @property
    def actor(self) -> str:
        """The actor of change records: the person (``account:<id>``) and the OS account it came through."""
        if self.account_id is None:
            return f"cli:{self.os_user}"[:64]
        return f"account:{self.account_id} cli:{self.os_user}"[:64]


def os_user() -> str:
    """The OS account running the command (``?`` when the system cannot say)."""
    try:
        return getpass.getuser()[:40]
    except (KeyError, OSError):
        return "?"


def _detail(command: str, rights: tuple[Right, ...], user: str, **more: Any) -> dict[str, Any]:
    return {"command": command[:100], "right": ",".join(r.name for r in rights), "os_user": user, **more}


def _refuse(
    db: Session,
    command: str,
    rights: tuple[Right, ...],
    user: str,
    reason: str,
    detail_zh: str,
    *,
    account_id: str | None = None,
) -> OperatorRefused:
    record_auth_event(
        db,
        "permission_denied",
        success=False,
        account_id=account_id,
        meta=RequestMeta(user_agent=f"zhengwu-cli {command}"[:200]),
        detail=_detail(command, rights, user, reason=reason, path=f"cli:{command}"[:200]),
    )
    db.flush()
    return OperatorRefused(detail_zh, detail_en=f"{reason}: {','.join(r.name for r in rights)}")


def check_operator(
    db: Session,
    *,
    command: str,
    rights: tuple[Right, ...],
    login: str | None,
    code: str | None,
    user: str,
    bootstrap: bool = False,
) -> Operator:
    """Decide a privileged command: the operator ``login`` with TOTP ``code`` must hold one of ``rights``.

    Raises :class:`OperatorRefused` (or the second factor's own errors) with the refusal recorded; the
    caller commits those writes (``keep_writes``) and stops.
    """
    meta = RequestMeta(user_agent=f"zhengwu-cli {command}"[:200])
    if not login:
        if bootstrap and not anyone_could_authorise(db, rights):
            record_auth_event(
                db, "break_glass", success=True, meta=meta, detail=_detail(command, rights, user)
            )
            return Operator(user, break_glass=True, command=command)
        raise _refuse(
            db, command, rights, user, "no_operator",
            "该命令须指明执行的工作人员：--operator 登录名（或环境变量 ZHENGWU_OPERATOR）及其动态验证码",
        )  # fmt: skip
    account = db.scalar(
        select(Account).where(Account.login_name == login.strip()[:64], Account.kind == AccountKind.STAFF)
    )
    if account is None or account.status != AccountStatus.ACTIVE:
        raise _refuse(db, command, rights, user, "unknown_operator", "没有该工作人员账号，或账号已停用")
    if not account.totp_enabled:
        raise _refuse(
            db, command, rights, user, "no_second_factor",
            "该工作人员尚未绑定动态验证码，不能执行特权命令", account_id=account.id,
        )  # fmt: skip
    # The factor first, then the rights: a guessed login name learns nothing about its roles.
    verify_second_factor(db, account, code or "", meta=meta)
    if not any(bindings_hold(bindings_of(db, account.id), right) for right in rights):
        first = rights[0]
        raise _refuse(
            db, command, rights, user, "no_right", f"您没有“{first.label}”的权限", account_id=account.id
        )
    record_auth_event(
        db, "privileged_cli", success=True, account_id=account.id, meta=meta, detail=_detail(command, rights, user)
    )  # fmt: skip
    return Operator(user, account.id, account.login_name, command=command)


def ensure_reach(db: Session, operator: Operator, right: Right, department_id: str | None) -> None:
    """Go on if the verified ``operator``'s ``right`` covers the department of the object the command
    touches (as ``StaffPrincipal.ensure`` over HTTP); else record the refusal apart and refuse.

    Break-glass and unchecked runs (no account) are not narrowed: they were decided before.
    """
    if operator.account_id is None:
        return
    if bindings_reach(db, bindings_of(db, operator.account_id), right, department_id):
        return
    account_id = operator.account_id
    refusal = write_apart(
        db,
        lambda apart: _refuse(
            apart, operator.command, (right,), operator.os_user, "department", f"您没有该部门的“{right.label}”权限",
            account_id=account_id,
        ),
    )  # fmt: skip
    raise refusal
