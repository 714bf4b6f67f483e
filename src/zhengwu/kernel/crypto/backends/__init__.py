"""Registry of SM2 backends; the default is the first importable of tongsuopy, gmalglib (ADR 0006).

The pure-Python ``reference`` backend is only ever used when asked for by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from zhengwu.kernel.crypto.backends.base import PrivateOps, PublicOps, SM2Backend
from zhengwu.kernel.crypto.errors import CryptoError

__all__ = [
    "PrivateOps",
    "PublicOps",
    "SM2Backend",
    "available_backends",
    "get_backend",
    "resolve_backend",
    "set_default_backend",
]


def _load(module: str, cls: str) -> Callable[[], SM2Backend]:
    def factory() -> SM2Backend:
        backend: SM2Backend = getattr(importlib.import_module(module), cls)()
        return backend

    return factory


_FACTORIES: dict[str, Callable[[], SM2Backend]] = {
    "tongsuopy": _load("zhengwu.kernel.crypto.backends.tongsuo", "TongsuoBackend"),
    "gmalglib": _load("zhengwu.kernel.crypto.backends.gmalg", "GmalglibBackend"),
    "reference": _load("zhengwu.kernel.crypto.backends.reference", "ReferenceBackend"),
}
#: Production preference, by measured rates (docs/adr/0006-sm2-backend.md).
_PREFERENCE = ("tongsuopy", "gmalglib")

_instances: dict[str, SM2Backend] = {}
_default: str | None = None


def get_backend(name: str | None = None) -> SM2Backend:
    """The named backend, or the default one; raises CryptoError when it is unknown or not installed."""
    if name is None:
        name = _default or _first_available()
    if name not in _instances:
        if name not in _FACTORIES:
            raise CryptoError(f"unknown SM2 backend {name!r} (known: {', '.join(_FACTORIES)})")
        try:
            _instances[name] = _FACTORIES[name]()
        except ImportError as exc:
            raise CryptoError(f"SM2 backend {name!r} is not installed ({exc.name})") from None
    return _instances[name]


def _first_available() -> str:
    for name in _PREFERENCE:
        try:
            get_backend(name)
        except CryptoError:
            continue
        return name
    raise CryptoError("no native SM2 backend installed (need tongsuopy or gmalglib)")


def available_backends() -> tuple[str, ...]:
    """Names of the backends that can be loaded here (the reference one always can)."""
    names = []
    for name in _FACTORIES:
        try:
            get_backend(name)
        except CryptoError:
            continue
        names.append(name)
    return tuple(names)


def set_default_backend(name: str | None) -> None:
    """Make ``name`` the default for keys created from now on (None restores the measured preference)."""
    global _default
    if name is not None:
        get_backend(name)  # fail now, not at the first signature
    _default = name


def resolve_backend(backend: SM2Backend | str | None) -> SM2Backend:
    """A backend object from an object, a name or None (the default)."""
    if backend is None or isinstance(backend, str):
        return get_backend(backend)
    return backend
