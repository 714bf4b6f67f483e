"""``@privileged(RIGHT)``: a command that changes what staff are responsible for asks who runs it.

The decorator adds ``--operator LOGIN`` (or ``ZHENGWU_OPERATOR``) to the command; the TOTP code comes
from ``ZHENGWU_OPERATOR_OTP`` (scripts) or a prompt with hidden input. ``identity.operator`` decides
under the staff-rights policy, in a unit of work of its own that is committed either way, so a refusal
stays recorded (and a wrong code counts toward lockout) while the command itself never starts. The
command's records then name the person through :func:`operator_actor`.

Required on a production node (``ZHENGWU_PRODUCTION``) or with ``ZHENGWU_SECURITY__CLI_SECOND_FACTOR=true``;
elsewhere (development, the test suite) a command runs as before unless an operator is named, in which
case the operator is checked all the same.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from contextvars import ContextVar
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from zhengwu.commands.node import load_settings, node_unit
from zhengwu.identity.policy import Right
from zhengwu.kernel.config import Settings

F = TypeVar("F", bound=Callable[..., Any])

_current: ContextVar[Any] = ContextVar("zhengwu_cli_operator", default=None)
_err = Console(stderr=True)

OPERATOR_ENV = "ZHENGWU_OPERATOR"
OTP_ENV = "ZHENGWU_OPERATOR_OTP"


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


def authorise(command: str, rights: tuple[Right, ...], login: str | None, *, bootstrap: bool) -> Any:
    """Check the operator of ``command`` (exit 1 with the reason when refused); None when not required."""
    from zhengwu.identity.operator import check_operator, os_user
    from zhengwu.kernel.errors import DomainError

    settings = load_settings()
    login = (login or os.environ.get(OPERATOR_ENV) or "").strip() or None
    if login is None and not required(settings):
        return None
    code = _code() if login is not None else None
    with node_unit(settings) as (_node, session):
        try:
            return check_operator(
                session, command=command, rights=rights, login=login, code=code, user=os_user(),
                bootstrap=bootstrap,
            )  # fmt: skip
        except DomainError as exc:
            if getattr(exc, "keep_writes", False):
                session.commit()  # the refusal and the failure count stay (等保 8.1.4.3)
            english = f" ({escape(exc.detail_en)})" if exc.detail_en else ""
            _err.print(f"[red]未执行 / refused:[/red] {escape(exc.detail)}{english}")
            raise typer.Exit(1) from exc


def privileged(*rights: Right, bootstrap: bool = False) -> Callable[[F], F]:
    """Mark a command as a privileged staff action needing one of ``rights`` (see the module docstring).

    ``bootstrap``: the command may run without an operator, recorded as break-glass, while nobody on the
    node could authorise it (the first department and administrator of an empty node).
    """
    if not rights:
        raise ValueError("a privileged command names at least one right")

    def decorate(command: F) -> F:
        signature = inspect.signature(command, eval_str=True)
        option = inspect.Parameter(
            "operator", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=OperatorOption
        )
        context = inspect.Parameter(
            "operator_context", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context
        )

        @functools.wraps(command)
        def run(*args: Any, operator: str | None = None, operator_context: Any = None, **kwargs: Any) -> Any:
            # As typed, without the program's name: "seals revoke".
            path = str(getattr(operator_context, "command_path", "") or command.__name__)
            name = " ".join(path.split()[1:]) or path
            verified = authorise(name, rights, operator, bootstrap=bootstrap)
            token = _current.set(verified)
            try:
                return command(*args, **kwargs)
            finally:
                _current.reset(token)

        params = list(signature.parameters.values())
        run.__signature__ = signature.replace(parameters=[*params, option, context])  # type: ignore[attr-defined]
        # typer reads the hints too (resolved in the command's own module, which ``__wrapped__`` names).
        run.__annotations__ = {
            **command.__annotations__,
            "operator": option.annotation,
            "operator_context": typer.Context,
        }
        run.privileged_rights = rights  # type: ignore[attr-defined]
        return run  # type: ignore[return-value]

    return decorate
