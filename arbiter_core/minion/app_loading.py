"""Finding the Minion an operator names on the command line (``arbiter minion APP``).

``APP`` is ``module``, ``module:attribute`` (``attribute`` may be dotted) or a
file path (``app.py``, ``pkg/app.py``). The working directory goes first on
``sys.path``, as ``celery -A`` does, so a module next to the operator is found.
A file inside the working directory is imported under its dotted module name
(``pkg/app.py`` → ``pkg.app``), one elsewhere under its stem with its directory
on ``sys.path``: either way its functions pickle by reference, as a process
pool needs. Every mistake is an :class:`AppLoadingError` saying what to change.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from arbiter_core.errors import ConfigurationError
from arbiter_core.minion.minion import Minion


class AppLoadingError(ConfigurationError):
    """``APP`` names no importable module, no Minion, or several of them."""


def load_minion(spec: str) -> Minion:
    """Import what ``spec`` names and return its :class:`Minion`."""
    if not spec or spec.startswith(":") or spec.endswith(":"):
        raise AppLoadingError(
            f"{spec!r} is not an app: expected module, module:attribute or a file path"
        )
    target, _, attribute = spec.partition(":")
    if _is_path(target):
        module_name = _module_for_path(Path(target))
    else:
        module_name = target
        _put_first_on_path(os.getcwd())
    module = _import(module_name, spec)
    if attribute:
        return _attribute(module, module_name, attribute)
    return _only_minion(module, module_name)


def _is_path(target: str) -> bool:
    return target.endswith(".py") or os.sep in target or "/" in target


def _module_for_path(path: Path) -> str:
    """The module name a file is imported under, with the directory that makes it so on path."""
    if not path.is_file():
        raise AppLoadingError(f"no such file: {str(path)!r}")
    if path.suffix != ".py":
        raise AppLoadingError(f"{str(path)!r} is not a Python file (*.py)")
    path = path.resolve()
    cwd = Path.cwd().resolve()
    try:
        parts = path.with_suffix("").relative_to(cwd).parts
    except ValueError:  # outside the working directory: import it by its stem
        _put_first_on_path(str(path.parent))
        return path.stem
    if all(part.isidentifier() for part in parts):
        _put_first_on_path(str(cwd))
        return ".".join(parts)
    _put_first_on_path(str(path.parent))
    return path.stem


def _put_first_on_path(directory: str) -> None:
    if directory in sys.path:
        sys.path.remove(directory)
    sys.path.insert(0, directory)


def _import(module_name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise AppLoadingError(
                f"cannot import {module_name!r} (from {spec!r}): no module named {exc.name!r} "
                f"in the working directory ({os.getcwd()}) or on sys.path; run arbiter from "
                "the directory that holds it, or give a file path"
            ) from exc
        raise AppLoadingError(_failed(module_name, exc)) from exc
    except Exception as exc:  # the module itself raised while it was imported: say what
        raise AppLoadingError(_failed(module_name, exc)) from exc


def _failed(module_name: str, exc: BaseException) -> str:
    """The message for a module that raised on import, with its traceback."""
    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return f"importing {module_name!r} failed: {type(exc).__name__}: {exc}\n{trace.rstrip()}"


def _attribute(module: ModuleType, module_name: str, attribute: str) -> Minion:
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            found = _minions(module)
            hint = f"; it holds {_listing(module_name, found)}" if found else ""
            raise AppLoadingError(
                f"module {module_name!r} has no attribute {attribute!r}{hint}"
            ) from None
    if not isinstance(value, Minion):
        raise AppLoadingError(
            f"{module_name}:{attribute} is a {type(value).__name__}, not a Minion"
        )
    return value


def _only_minion(module: ModuleType, module_name: str) -> Minion:
    found = _minions(module)
    if not found:
        raise AppLoadingError(
            f"module {module_name!r} holds no Minion; create one at module level "
            f"(app = Minion(...)) or name it: {module_name}:attribute"
        )
    if len(found) > 1:
        raise AppLoadingError(
            f"module {module_name!r} holds several Minions ({_listing(module_name, found)}); "
            f"say which one: {module_name}:{next(iter(found.values()))[0]}"
        )
    return next(iter(found))


def _minions(module: ModuleType) -> dict[Minion, list[str]]:
    """Each Minion at the module's top level, with the names it is bound to."""
    found: dict[Minion, list[str]] = {}
    for name, value in vars(module).items():
        if isinstance(value, Minion) and not name.startswith("__"):
            found.setdefault(value, []).append(name)
    return found


def _listing(module_name: str, found: dict[Minion, list[str]]) -> str:
    return ", ".join(" = ".join(f"{module_name}:{n}" for n in names) for names in found.values())
