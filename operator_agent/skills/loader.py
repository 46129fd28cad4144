"""Loading skills from folders, modules and functions, all or nothing.

A skill folder is a folder of Python files with a ``SKILL.md`` that tells people what the skills
are for and how to use them. :func:`load_skills` walks a folder recursively: every subfolder that
holds Python files must have a ``SKILL.md``. The folder is imported as a package of its own, so a
file may import its neighbours (``from ._labels import match``) and a sibling folder
(``from ..web.fill_form import fill_form``). Skills are the :class:`~operator_agent.skills.Skill`
objects defined in those files.

Loading is all or nothing: an import error, an untyped parameter, a duplicate name or a missing
``SKILL.md`` raises :class:`~operator_agent.errors.SkillLoadError` naming the file and the problem,
and no module of the failed folder stays imported.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import pkgutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from operator_agent.errors import SkillDefinitionError, SkillLoadError
from operator_agent.skills.decorator import skill as make_skill
from operator_agent.skills.model import Skill
from operator_agent.skills.registry import SkillRegistry

__all__ = ["SKILL_DOC", "SkillSource", "bundled_skills", "bundled_skills_dir", "load_skills"]

#: The file every skill folder must have.
SKILL_DOC = "SKILL.md"
_PACKAGE_PREFIX = "_operator_agent_skills_"

SkillSource = str | os.PathLike[str] | ModuleType | Skill[Any] | Any
"""A folder (path), a module name, a module, a :class:`Skill`, or an async function to make one."""


def _is_path(source: str) -> bool:
    return os.sep in source or "/" in source or source.endswith(".py") or Path(source).exists()


def _skip(path: Path) -> bool:
    return path.name.startswith((".", "_")) or path.name == "node_modules"


def _folders(root: Path) -> Iterator[Path]:
    yield root
    for current, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not _skip(Path(d)))
        for name in dirs:
            yield Path(current) / name


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if p.is_file())


def _package_name(root: Path) -> str:
    return _PACKAGE_PREFIX + hashlib.sha1(str(root).encode()).hexdigest()[:12]


def _module_name(package: str, root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join([package, *parts])


def _make_package(name: str, folder: Path) -> ModuleType:
    init = folder / "__init__.py"
    if init.is_file():
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
    else:
        spec = importlib.util.spec_from_loader(name, loader=None, is_package=True)
    if spec is None:
        raise SkillLoadError(f"cannot make a package of the skill folder {folder}")
    if spec.submodule_search_locations is not None and str(folder) not in spec.submodule_search_locations:
        spec.submodule_search_locations.append(str(folder))
    module = importlib.util.module_from_spec(spec)
    module.__path__ = [str(folder)]
    sys.modules[name] = module
    if spec.loader is not None:
        spec.loader.exec_module(module)
    return module


def _where(exc: BaseException, root: Path, fallback: Path) -> str:
    """The file and line inside the skill folder where ``exc`` was raised."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{exc.filename}:{exc.lineno}"
    place = str(fallback)
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).resolve().is_relative_to(root):
            place = f"{frame.filename}:{frame.lineno}"
    return place


def _problem(exc: BaseException) -> str:
    if isinstance(exc, SkillDefinitionError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _load_folder(source: Path) -> list[Skill[Any]]:
    root = source.resolve()
    if not root.is_dir():
        raise SkillLoadError(
            f"skill source {source} is not a folder (give a folder, a module name or a skill)"
        )
    folders = list(_folders(root))
    missing = [f for f in folders if _python_files(f) and not (f / SKILL_DOC).is_file()]
    if missing:
        raise SkillLoadError(
            f"skill folder {missing[0]} has Python files but no {SKILL_DOC}; "
            "every skill folder documents its "
            f"skills in a {SKILL_DOC}"
            + (f" (also missing in: {', '.join(map(str, missing[1:]))})" if missing[1:] else "")
        )
    empty = [
        f
        for f in folders
        if (f / SKILL_DOC).is_file() and not (f / SKILL_DOC).read_text(encoding="utf-8").strip()
    ]
    if empty:
        raise SkillLoadError(
            f"{empty[0] / SKILL_DOC} is empty; say what the skills of this folder do and how to use them"
        )
    package = _package_name(root)
    before = set(sys.modules)
    modules: list[ModuleType] = []
    current = root
    try:
        for folder in folders:
            current = folder
            name = _module_name(package, root, folder / "__init__.py")
            module = sys.modules.get(name) or _make_package(name, folder)
            modules.append(module)
        for folder in folders:
            for path in _python_files(folder):
                if path.name == "__init__.py":
                    continue
                current = path
                modules.append(importlib.import_module(_module_name(package, root, path)))
    except SkillLoadError:
        _forget(before)
        raise
    except Exception as exc:
        _forget(before)
        raise SkillLoadError(
            f"could not load skills from {_where(exc, root, current)}: {_problem(exc)}"
        ) from exc
    found: list[Skill[Any]] = []
    for module in modules:
        for value in vars(module).values():
            # Each skill counts once, from the module that defines it (others may import it).
            if isinstance(value, Skill) and value.__module__ == module.__name__ and value not in found:
                found.append(value)
    return found


def _forget(before: set[str]) -> None:
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _load_module(module: ModuleType) -> list[Skill[Any]]:
    found = [v for v in vars(module).values() if isinstance(v, Skill)]
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, prefix=module.__name__ + "."):
            try:
                sub = importlib.import_module(info.name)
            except Exception as exc:
                raise SkillLoadError(
                    f"could not load skills from module {info.name}: {_problem(exc)}"
                ) from exc
            found += [v for v in vars(sub).values() if isinstance(v, Skill) and v.__module__ == sub.__name__]
    unique: list[Skill[Any]] = []
    for item in found:
        if item not in unique:
            unique.append(item)
    return unique


def _load_one(source: SkillSource) -> list[Skill[Any]]:
    if isinstance(source, Skill):
        return [source]
    if isinstance(source, ModuleType):
        return _load_module(source)
    if isinstance(source, os.PathLike):
        return _load_folder(Path(source))
    if isinstance(source, str):
        if _is_path(source):
            return _load_folder(Path(source))
        before = set(sys.modules)
        try:
            module = importlib.import_module(source)
        except Exception as exc:
            _forget(before)
            raise SkillLoadError(f"could not import skill module {source!r}: {_problem(exc)}") from exc
        return _load_module(module)
    if inspect.iscoroutinefunction(source):
        try:
            return [make_skill(source)]
        except SkillDefinitionError as exc:
            raise SkillLoadError(str(exc)) from exc
    raise SkillLoadError(
        f"cannot load skills from {source!r}: give a folder, a module (or its name), a Skill "
        "or an async function"
    )


def load_skills(*sources: SkillSource) -> SkillRegistry:
    """Load skills from folders, modules, skills and functions into a new registry.

    Args:
        *sources: Each a folder path (walked recursively; every subfolder with Python files
            needs a ``SKILL.md``), a module name or module (a package's submodules are loaded
            too), a :class:`Skill`, or an async function (made a skill with ``@skill``).

    Returns:
        A registry with every skill, in the order found.

    Raises:
        SkillLoadError: If a source cannot be imported, a function cannot be a skill, a folder
            lacks its ``SKILL.md``, two skills share a name, or a name is an action kind. Nothing
            is loaded then.
    """
    registry = SkillRegistry()
    for source in sources:
        for item in _load_one(source):
            registry.add(item)
    return registry


def bundled_skills_dir() -> Path:
    """The folder of the skill pack that ships with operator-agent.

    Inside an installed wheel it is ``operator_agent/_bundled/skills``; in a source checkout,
    the top-level ``skills/`` folder.

    Raises:
        SkillLoadError: If neither exists; the message lists both places.
    """
    package = Path(__file__).resolve().parent.parent
    candidates = [package / "_bundled" / "skills", package.parent / "skills"]
    for folder in candidates:
        if (folder / "web" / SKILL_DOC).is_file():
            return folder
    raise SkillLoadError("the bundled skill pack was not found; tried: " + ", ".join(map(str, candidates)))


def bundled_skills() -> SkillRegistry:
    """The bundled skill pack: the generic web skills (``skills/web``) and the back-office ones.

    Raises:
        SkillLoadError: If the pack is missing or broken.
    """
    return load_skills(bundled_skills_dir())
