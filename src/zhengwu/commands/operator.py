"""``@privileged(RIGHT)``: a command that changes what staff are responsible for asks who runs it.

The decorator adds ``--operator LOGIN`` (or ``ZHENGWU_OPERATOR``) to the command; the TOTP code comes
from ``ZHENGWU_OPERATOR_OTP`` (scripts) or a prompt with hidden input. ``identity.operator`` decides
under the staff-rights policy, in a unit of work of its own that is committed either way, so a refusal
stays recorded (and a wrong code counts toward lockout) while the command itself never starts. The
command's records then name the person through :func:`operator_actor`.

Required on a production node (``ZHENGWU_PRODUCTION``) or with ``ZHENGWU_SECURITY__CLI_SECOND_FACTOR=true``;
elsewhere (development, the test suite) a command runs as before unless an operator is named, in which
case the operator is checked all the same.

After a code was accepted, an operator session (``identity.operator.open_session``) lets the same operator's
later privileged commands on the same terminal run without a code for
``ZHENGWU_SECURITY__CLI_SESSION_MINUTES``. Its secret lives in a file of mode 600 in a directory of mode 700
(``ZHENGWU_OPERATOR_SESSION_DIR``, else ``$XDG_RUNTIME_DIR/zhengwu``, else ``~/.cache/zhengwu``), one file
per node database, OS user and terminal; ``zhengwu operator logout`` ends it.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import stat
from collections.abc import Callable
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from zhengwu.commands.node import load_settings, node_unit
from zhengwu.identity.policy import Right
from zhengwu.kernel.clock import BEIJING, utcnow
from zhengwu.kernel.config import Settings

F = TypeVar("F", bound=Callable[..., Any])

_current: ContextVar[Any] = ContextVar("zhengwu_cli_operator", default=None)
_err = Console(stderr=True)

OPERATOR_ENV = "ZHENGWU_OPERATOR"
OTP_ENV = "ZHENGWU_OPERATOR_OTP"
SESSION_DIR_ENV = "ZHENGWU_OPERATOR_SESSION_DIR"


#: ``--operator`` of a command that is privileged only in one of its modes (it calls :func:`authorise`).
OperatorOption = Annotated[
    str | None,
    typer.Option(
        "--operator",
        help=f"Login name of the staff member running this (or {OPERATOR_ENV}); the TOTP code is prompted for"
        f" (or {OTP_ENV}).",
    ),
]


def required(settings: Settings) -> bool:
    """True when privileged commands need a named operator with a second factor on this node."""
    return settings.production or settings.security.cli_second_factor


def operator_actor(default: str) -> str:
    """The actor of the running command's records: the verified operator, else ``default`` (as before)."""
    operator = _current.get()
    return str(operator.actor) if operator is not None else default


def ensure_department(session: Any, right: Right, department_id: str | None) -> None:
    """Inside a privileged command, once the object is loaded: the operator's ``right`` must reach its
    department (a seal's, a license's), as over HTTP. Refused: recorded apart, the command's work undone."""
    from zhengwu.identity.operator import ensure_reach

    operator = _current.get()
    if operator is not None:
        ensure_reach(session, operator, right, department_id)


def departments_reached(session: Any, right: Right) -> frozenset[str] | None:
    """The departments the running command's operator reaches with ``right``, for commands that act on
    many objects at once (an import's rows, a queue's entries) and refuse only those outside it.
    None: every department (platform reach, break-glass, or a run without a named operator)."""
    from zhengwu.identity.policy import bindings_departments, bindings_of

    operator = _current.get()
    if operator is None or operator.account_id is None:
        return None
    return bindings_departments(session, bindings_of(session, operator.account_id), right)


def _code() -> str:
    given = os.environ.get(OTP_ENV)
    if given:
        return given
    return str(typer.prompt("动态验证码 / TOTP code", hide_input=True, err=True))


def _session_dir() -> Path:
    given = os.environ.get(SESSION_DIR_ENV)
    if given:
        return Path(given)
    runtime = os.environ.get("XDG_RUNTIME_DIR")  # per user, in memory, emptied at logout
    return Path(runtime) / "zhengwu" if runtime else Path.home() / ".cache" / "zhengwu"


def session_file(settings: Settings, place: Any) -> Path:
    """Where this terminal keeps its operator session secret for this node's database."""
    from zhengwu.kernel.crypto.hashes import sm3

    key = "\n".join((settings.database_url, place.os_user, place.host, place.terminal))
    return _session_dir() / f"operator-{settings.node_id}-{sm3(key.encode()).hex()[:24]}"


def _read_secret(path: Path) -> str | None:
    """The secret in ``path``, if it is a regular file of ours that nobody else can read or write."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "r", encoding="ascii", errors="replace") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            _err.print(f"[yellow]忽略权限不安全的会话文件 / ignored an unsafe session file:[/yellow] {path}")
            return None
        return handle.read(200).strip() or None


def _write_secret(path: Path, secret: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secret)


def _refused(session: Any, exc: Any) -> NoReturn:
    if getattr(exc, "keep_writes", False):
        session.commit()  # the refusal and the failure count stay (等保 8.1.4.3)
    english = f" ({escape(exc.detail_en)})" if exc.detail_en else ""
    _err.print(f"[red]未执行 / refused:[/red] {escape(exc.detail)}{english}")
    raise typer.Exit(1) from exc


def _resume(
    settings: Settings, command: str, rights: tuple[Right, ...], login: str | None, place: Any
) -> Any:
    """The operator of a usable session of this terminal, else None (a stale secret file removed)."""
    from zhengwu.identity.operator import resume
    from zhengwu.kernel.errors import DomainError

    path = session_file(settings, place)
    secret = _read_secret(path)
    if secret is None:
        return None
    with node_unit(settings) as (_node, session):
        try:
            found = resume(session, token=secret, command=command, rights=rights, place=place, login=login)
        except DomainError as exc:
            _refused(session, exc)
    if found is None and login is None:
        path.unlink(missing_ok=True)
    return found


def authorise(command: str, rights: tuple[Right, ...], login: str | None, *, bootstrap: bool) -> Any:
    """Check the operator of ``command`` (exit 1 with the reason when refused); None when not required."""
    from zhengwu.identity.operator import check_operator, here, open_session
    from zhengwu.kernel.errors import DomainError

    settings = load_settings()
    login = (login or os.environ.get(OPERATOR_ENV) or "").strip() or None
    if login is None and not required(settings):
        return None
    minutes = settings.security.cli_session_minutes
    place = here()
    if minutes > 0:
        resumed = _resume(settings, command, rights, login, place)
        if resumed is not None:
            return resumed
    code = _code() if login is not None else None
    secret = None
    with node_unit(settings) as (_node, session):
        try:
            verified = check_operator(
                session, command=command, rights=rights, login=login, code=code, user=place.os_user,
                bootstrap=bootstrap,
            )  # fmt: skip
        except DomainError as exc:
            _refused(session, exc)
        if verified.account_id is not None and minutes > 0:
            secret = open_session(session, verified, place, minutes)
    if secret is not None:
        _write_secret(session_file(settings, place), secret)
    return verified


def _typed(context: Any, command: Callable[..., Any]) -> str:
    """The command as typed, without the program's name: "seals revoke"."""
    path = str(getattr(context, "command_path", "") or command.__name__)
    return " ".join(path.split()[1:]) or path


def _extend(run: Callable[..., Any], command: Callable[..., Any], *extra: inspect.Parameter) -> None:
    """Give the wrapper ``run`` the command's parameters, ``extra`` and the typer context
    (``operator_context``), so typer builds the command line from it."""
    signature = inspect.signature(command, eval_str=True)
    context = inspect.Parameter("operator_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
    params = [*signature.parameters.values(), *extra, context]
    run.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    # typer reads the hints too (resolved in the command's own module, which ``__wrapped__`` names).
    run.__annotations__ = {
        **command.__annotations__,
        **{p.name: p.annotation for p in extra},
        "operator_context": typer.Context,
    }


def privileged(*rights: Right, bootstrap: bool = False) -> Callable[[F], F]:
    """Mark a command as a privileged staff action needing one of ``rights`` (see the module docstring).

    ``bootstrap``: the command may run without an operator, recorded as break-glass, while nobody on the
    node could authorise it (the first department and administrator of an empty node).
    """
    if not rights:
        raise ValueError("a privileged command names at least one right")

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def run(*args: Any, operator: str | None = None, operator_context: Any = None, **kwargs: Any) -> Any:
            verified = authorise(_typed(operator_context, command), rights, operator, bootstrap=bootstrap)
            token = _current.set(verified)
            try:
                return command(*args, **kwargs)
            finally:
                _current.reset(token)

        option = inspect.Parameter(
            "operator", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=OperatorOption
        )
        _extend(run, command, option)
        run.privileged_rights = rights  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


def _data_owner(settings: Settings) -> int | None:
    try:
        return Path(settings.data_dir).stat().st_uid
    except OSError:
        return None


def routine(reason: str, *, record: bool = True) -> Callable[[F], F]:
    """Mark a command run by cron, systemd or the worker's side (backups, chain-head seals, WAF ingest):
    no person is at the keyboard to give a code, so it runs as the node's **service identity** instead.

    Where privileged commands need an operator, a routine command runs only as the OS account that owns
    the data directory (the account the server and worker run as; a person reaches it through the bastion,
    which records them), else it is refused and recorded. ``record``: each run is a ``service_cli`` event
    of the authentication audit (commands that run every minute and store their own result do not).
    ``reason`` is why it is routine; docs/operations.md lists every such command with it.
    """

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def run(*args: Any, operator_context: Any = None, **kwargs: Any) -> Any:
            from zhengwu.identity.operator import Operator, os_user, service_run
            from zhengwu.kernel.errors import DomainError

            settings = load_settings()
            name = _typed(operator_context, command)
            user = os_user()
            enforced = required(settings)
            owner = _data_owner(settings)
            if enforced or record:
                with node_unit(settings) as (_node, session):
                    try:
                        service_run(
                            session, command=name, user=user, reason=reason, record=record,
                            service_account=not enforced or owner is None or owner == os.getuid(),
                        )  # fmt: skip
                    except DomainError as exc:
                        _refused(session, exc)
            token = _current.set(Operator(user, command=name, service=True))
            try:
                return command(*args, **kwargs)
            finally:
                _current.reset(token)

        _extend(run, command)
        run.routine_reason = reason  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate


app = typer.Typer(
    help="特权命令会话 / operator sessions: one second factor for several privileged commands.",
    no_args_is_help=True,
)


def _beijing(moment: datetime | None) -> str:
    return "—" if moment is None else moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False) -> None:
    """The operator session of this terminal: whose, since and until when (北京时间)."""
    from zhengwu.identity.models import Account
    from zhengwu.identity.operator import here, session_of

    settings = load_settings()
    secret = _read_secret(session_file(settings, here()))
    found: dict[str, Any] = {"open": False}
    if secret is not None:
        with node_unit(settings) as (_node, session):
            row = session_of(session, secret)
            if row is not None:
                account = session.get(Account, row.account_id)
                found = {
                    "open": row.ended_at is None and row.expires_at > utcnow(),
                    "operator": account.login_name if account is not None else None,
                    "created_at": row.created_at.isoformat(),
                    "expires_at": row.expires_at.isoformat(),
                    "uses": row.uses,
                    "ended_at": row.ended_at.isoformat() if row.ended_at else None,
                    "end_reason": row.end_reason,
                }
    if as_json:
        print(json.dumps(found, ensure_ascii=False))
        return
    if not found["open"]:
        print("本终端没有有效的特权命令会话 / no open operator session on this terminal")
        return
    until = _beijing(datetime.fromisoformat(found["expires_at"]))
    print(f"{found['operator']}：特权命令会话有效至 {until}（北京时间），已使用 {found['uses']} 次")


@app.command()
def logout() -> None:
    """End the operator session of this terminal (the next privileged command asks for a code again)."""
    from zhengwu.identity.operator import end_session, here

    settings = load_settings()
    place = here()
    path = session_file(settings, place)
    secret = _read_secret(path)
    ended = None
    if secret is not None:
        with node_unit(settings) as (_node, session):
            ended = end_session(session, secret, place)
    path.unlink(missing_ok=True)
    print(
        "已结束特权命令会话 / operator session ended"
        if ended
        else "本终端没有特权命令会话 / no session to end"
    )
