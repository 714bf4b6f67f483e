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

**Operator sessions.** A TOTP code works once, so an operator running several privileged commands would
wait for the next code before each. After one successful check the CLI may keep an operator session
(:func:`open_session`, like sudo's timestamp): a row with its expiry and the SM3 digest of a random secret
the operator's terminal keeps. A later command presenting the secret (:func:`resume`) runs without a code
while the session is unexpired and presented by the same OS user on the same host and terminal, and the
account is still active, unlocked, with the same second factor and the same roles; anything else ends it
(recorded) and the command asks for a code as before. The rights are still decided per command.

Takes the session, never commits.
"""

from __future__ import annotations

import getpass
import os
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengwu.audit.apart import write_apart
from zhengwu.identity.audit import RequestMeta, record_auth_event
from zhengwu.identity.errors import KeepsAudit
from zhengwu.identity.mfa import verify_second_factor
from zhengwu.identity.models import Account, AccountKind, AccountStatus, OperatorSession
from zhengwu.identity.policy import (
    Binding,
    Right,
    anyone_could_authorise,
    bindings_hold,
    bindings_of,
    bindings_reach,
)
from zhengwu.kernel.clock import utcnow
from zhengwu.kernel.crypto.hashes import sm3
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
    #: The operator session the command ran under (None: a code was given, or no account).
    session_id: str | None = None
    #: A routine command run as the node's service identity (cron, systemd), no person behind it.
    service: bool = False

    @property
    def actor(self) -> str:
        """The actor of change records: the person (``account:<id>``) and the OS account it came through."""
        if self.service:
            return f"service:{self.os_user}"[:64]
        if self.account_id is None:
            return f"cli:{self.os_user}"[:64]
        return f"account:{self.account_id} cli:{self.os_user}"[:64]


def os_user() -> str:
    """The OS account running the command (``?`` when the system cannot say)."""
    try:
        return getpass.getuser()[:40]
    except (KeyError, OSError):
        return "?"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a privileged command runs: an operator session is bound to all three."""

    os_user: str
    host: str
    #: The controlling terminal and its session id (a terminal closed and reopened is another place).
    terminal: str


def _tty() -> str:
    for fd in (0, 1, 2):
        try:
            return os.ttyname(fd)
        except OSError:
            continue
    return "notty"


def here() -> Place:
    """The OS user, host and terminal of this process."""
    try:
        sid = str(os.getsid(0))
    except OSError:
        sid = "?"
    return Place(os_user(), socket.gethostname()[:255], f"{_tty()} sid={sid}"[:255])


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


def service_run(
    db: Session, *, command: str, user: str, reason: str, record: bool, service_account: bool
) -> None:
    """A routine command (``commands.operator.routine``) under the node's service identity.

    ``service_account``: the OS user owns the node's data directory (or nobody demands it). Otherwise refused
    and recorded; else recorded as ``service_cli`` when ``record``.
    """
    meta = RequestMeta(user_agent=f"zhengwu-cli {command}"[:200])
    if not service_account:
        record_auth_event(
            db, "permission_denied", success=False, meta=meta,
            detail={"command": command[:100], "os_user": user, "reason": "not_service_account",
                    "path": f"cli:{command}"[:200]},
        )  # fmt: skip
        db.flush()
        raise OperatorRefused(
            "例行命令须以本节点的服务账号（数据目录的属主）运行", detail_en="not_service_account"
        )
    if record:
        record_auth_event(
            db, "service_cli", success=True, meta=meta,
            detail={"command": command[:100], "os_user": user, "reason": reason[:200]},
        )  # fmt: skip


# --- operator sessions ----------------------------------------------------------------------------------


def _rights_digest(bindings: tuple[Binding, ...]) -> str:
    text = "\n".join(sorted(f"{b.department_id}:{','.join(sorted(b.roles))}" for b in bindings))
    return sm3(text.encode()).hex()


def _token_hash(token: str) -> str:
    return sm3(token.encode()).hex()


def _place_detail(place: Place) -> dict[str, str]:
    return {"os_user": place.os_user, "host": place.host, "terminal": place.terminal}


def open_session(db: Session, operator: Operator, place: Place, minutes: int) -> str:
    """After ``operator`` passed a second factor: open a session of ``minutes``; returns its secret.

    Only the secret's digest is stored; the caller keeps the secret where only the OS user can read it.
    """
    if operator.account_id is None or minutes <= 0:
        raise ValueError("an operator session needs a verified staff account and a lifetime")
    account = db.get(Account, operator.account_id)
    assert account is not None
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = OperatorSession(
        token_hash=_token_hash(token),
        account_id=account.id,
        os_user=place.os_user,
        host=place.host,
        terminal=place.terminal,
        rights_digest=_rights_digest(bindings_of(db, account.id)),
        factor_enabled_at=account.totp_enabled_at,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
        uses=0,
    )
    db.add(row)
    db.flush()
    record_auth_event(
        db, "operator_session", success=True, account_id=account.id, session_id=row.id,
        meta=RequestMeta(user_agent=f"zhengwu-cli {operator.command}"[:200]),
        detail={**_place_detail(place), "command": operator.command[:100], "minutes": minutes},
    )  # fmt: skip
    return token


def _end(db: Session, row: OperatorSession, reason: str, place: Place, *, refused: bool) -> None:
    row.ended_at = utcnow()
    row.end_reason = reason
    record_auth_event(
        db,
        "operator_session_refused" if refused else "operator_session_end",
        success=not refused,
        account_id=row.account_id,
        session_id=row.id,
        meta=RequestMeta(user_agent="zhengwu-cli"),
        detail={**_place_detail(place), "reason": reason},
    )
    db.flush()


def _revoked(db: Session, row: OperatorSession, account: Account | None) -> str | None:
    """Why the account no longer stands behind the session (None: it does)."""
    if account is None or account.status != AccountStatus.ACTIVE:
        return "disabled"
    if account.locked_until is not None and account.locked_until > utcnow():
        return "locked"
    if not account.totp_enabled or account.totp_enabled_at != row.factor_enabled_at:
        return "factor_changed"
    if _rights_digest(bindings_of(db, account.id)) != row.rights_digest:
        return "rights_changed"
    return None


def session_of(db: Session, token: str) -> OperatorSession | None:
    """The operator session of a secret, ended or not (None: no such session)."""
    return db.scalar(select(OperatorSession).where(OperatorSession.token_hash == _token_hash(token)))


def resume(
    db: Session, *, token: str, command: str, rights: tuple[Right, ...], place: Place, login: str | None
) -> Operator | None:
    """A privileged command under the operator session of ``token``: the operator, or None when the
    session cannot be used — unknown, ended, expired, presented from another place, or the account changed
    (the last three end it, recorded) — and the command must ask for a code.

    A usable session still needs one of ``rights`` for this command (refused like any operator).
    """
    row = session_of(db, token)
    if row is None or row.ended_at is not None:
        return None
    account = db.get(Account, row.account_id)
    if login is not None and (account is None or account.login_name != login.strip()):
        return None  # another operator named: their own code decides, this session stays
    if (row.os_user, row.host, row.terminal) != (place.os_user, place.host, place.terminal):
        # The secret left the terminal it was given to: nobody may use it any more.
        _end(db, row, "foreign", place, refused=True)
        return None
    if row.expires_at <= utcnow():
        _end(db, row, "expired", place, refused=False)
        return None
    reason = _revoked(db, row, account)
    if reason is not None:
        _end(db, row, reason, place, refused=True)
        return None
    assert account is not None
    if not any(bindings_hold(bindings_of(db, account.id), right) for right in rights):
        raise _refuse(
            db, command, rights, place.os_user, "no_right", f"您没有“{rights[0].label}”的权限",
            account_id=account.id,
        )  # fmt: skip
    row.last_used_at = utcnow()
    row.uses += 1
    record_auth_event(
        db, "privileged_cli", success=True, account_id=account.id, session_id=row.id,
        meta=RequestMeta(user_agent=f"zhengwu-cli {command}"[:200]),
        detail=_detail(command, rights, place.os_user, via="session"),
    )  # fmt: skip
    return Operator(place.os_user, account.id, account.login_name, command=command, session_id=row.id)


def end_session(db: Session, token: str, place: Place) -> OperatorSession | None:
    """``zhengwu operator logout``: end the session of ``token`` (None: there was none still open)."""
    row = session_of(db, token)
    if row is None or row.ended_at is not None:
        return None
    _end(db, row, "logout", place, refused=False)
    return row
