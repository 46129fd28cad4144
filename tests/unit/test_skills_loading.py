"""Loading skills from folders, modules and functions: all or nothing, with errors that name the file."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from playwright.async_api import Page

from operator_agent.errors import SkillError, SkillLoadError
from operator_agent.skills import (
    SkillContext,
    SkillRegistry,
    bundled_skills,
    bundled_skills_dir,
    load_skills,
    skill,
)


class NoTabs:
    """Tabs for skills that never touch the page."""

    @property
    def page(self) -> Page:
        raise AssertionError("this skill must not use the page")

    @property
    def pages(self) -> list[Page]:
        return []

    async def switch_to(self, index: int) -> Page:
        raise AssertionError("this skill must not switch tabs")


DOC = "# Test skills\n\nWhat they do and how to call them.\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return folder


SKILL_A = """
    from operator_agent.skills import SkillContext, skill

    from ._helpers import greeting


    @skill
    async def greet(ctx: SkillContext, *, name: str) -> str:
        '''Greet someone.

        Args:
            name: Who to greet.
        '''
        return greeting(name)
"""
HELPERS = """
    def greeting(name: str) -> str:
        return f"Hello {name}"
"""
SKILL_B = """
    from operator_agent.skills import SkillContext, skill

    from ..alpha.greet import greet


    @skill
    async def greet_twice(ctx: SkillContext, *, name: str) -> list[str]:
        '''Greet someone twice, using the alpha pack.'''
        return [await greet(ctx, name=name), await greet(ctx, name=name)]
"""


def _loaded_modules(folder: Path) -> list[str]:
    return [
        name
        for name, module in sys.modules.items()
        if name.startswith("_operator_agent_skills_")
        and str(getattr(module, "__file__", "") or "").startswith(str(folder.resolve()))
    ]


def test_a_folder_tree_loads_with_relative_imports_inside_and_across_packs(tmp_path: Path) -> None:
    root = write(
        tmp_path / "pack",
        {
            "alpha/SKILL.md": DOC,
            "alpha/greet.py": SKILL_A,
            "alpha/_helpers.py": HELPERS,
            "beta/SKILL.md": DOC,
            "beta/twice.py": SKILL_B,
            "README.md": "no Python here, so no SKILL.md needed",
        },
    )
    registry = load_skills(root)
    assert registry.names == ["greet", "greet_twice"], "greet counts once although beta imports it"
    assert registry["greet"].source == str((root / "alpha" / "greet.py").resolve())
    # Loading again reuses the same skill objects.
    assert load_skills(str(root))["greet"] is registry["greet"]


async def test_a_loaded_skill_runs(tmp_path: Path) -> None:
    root = write(
        tmp_path / "pack", {"alpha/SKILL.md": DOC, "alpha/greet.py": SKILL_A, "alpha/_helpers.py": HELPERS}
    )
    greet = load_skills(root)["greet"]
    ctx = SkillContext(tabs=NoTabs())
    assert await greet(ctx, name="Dana") == "Hello Dana"
    result = await greet.invoke(ctx, '{"name": "Dana"}')
    assert result.ok
    assert result.value == "Hello Dana"


def test_a_folder_with_python_but_no_skill_md_is_refused(tmp_path: Path) -> None:
    root = write(tmp_path / "pack", {"alpha/SKILL.md": DOC, "alpha/greet.py": SKILL_A, "alpha/_helpers.py": HELPERS,
                                     "gamma/undocumented.py": SKILL_A.replace("greet", "hello")})  # fmt: skip
    with pytest.raises(SkillLoadError) as info:
        load_skills(root)
    assert "gamma" in str(info.value)
    assert "SKILL.md" in str(info.value)


def test_an_empty_skill_md_is_refused(tmp_path: Path) -> None:
    root = write(
        tmp_path / "pack", {"alpha/SKILL.md": "  \n", "alpha/greet.py": SKILL_A, "alpha/_helpers.py": HELPERS}
    )
    with pytest.raises(SkillLoadError, match="empty"):
        load_skills(root)


def test_an_import_error_names_the_file_and_line_and_loads_nothing(tmp_path: Path) -> None:
    root = write(
        tmp_path / "pack",
        {
            "alpha/SKILL.md": DOC,
            "alpha/greet.py": SKILL_A,
            "alpha/_helpers.py": HELPERS,
            "alpha/zbroken.py": "import not_a_module_anywhere\n",
        },
    )
    with pytest.raises(SkillLoadError) as info:
        load_skills(root)
    message = str(info.value)
    assert "zbroken.py:1" in message
    assert "ModuleNotFoundError" in message
    assert "not_a_module_anywhere" in message
    assert _loaded_modules(root) == [], "a failed load leaves no module of the folder behind"


def test_a_syntax_error_names_the_file(tmp_path: Path) -> None:
    root = write(tmp_path / "pack", {"alpha/SKILL.md": DOC, "alpha/bad.py": "def broken(:\n"})
    with pytest.raises(SkillLoadError, match=r"bad\.py:1"):
        load_skills(root)


def test_an_untyped_parameter_names_the_function_and_file(tmp_path: Path) -> None:
    untyped = SKILL_A.replace("name: str) -> str:", "name) -> str:")
    root = write(
        tmp_path / "pack", {"alpha/SKILL.md": DOC, "alpha/greet.py": untyped, "alpha/_helpers.py": HELPERS}
    )
    with pytest.raises(SkillLoadError) as info:
        load_skills(root)
    assert "greet.py" in str(info.value)
    assert "parameter 'name' has no type annotation" in str(info.value)


def test_duplicate_names_across_sources_are_refused_and_nothing_is_returned(tmp_path: Path) -> None:
    first = write(
        tmp_path / "one", {"alpha/SKILL.md": DOC, "alpha/greet.py": SKILL_A, "alpha/_helpers.py": HELPERS}
    )
    second = write(
        tmp_path / "two", {"alpha/SKILL.md": DOC, "alpha/greet.py": SKILL_A, "alpha/_helpers.py": HELPERS}
    )
    with pytest.raises(SkillLoadError) as info:
        load_skills(first, second)
    assert "two skills are named 'greet'" in str(info.value)
    assert str(first.resolve()) in str(info.value)
    assert str(second.resolve()) in str(info.value)


def test_a_skill_named_like_an_action_is_refused_by_the_loader(tmp_path: Path) -> None:
    clash = SKILL_A.replace("async def greet(", "async def navigate(")
    root = write(
        tmp_path / "pack", {"alpha/SKILL.md": DOC, "alpha/greet.py": clash, "alpha/_helpers.py": HELPERS}
    )
    with pytest.raises(SkillLoadError, match="action kind"):
        load_skills(root)


def test_modules_functions_and_skills_are_sources_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops = SKILL_A.replace(
        "from ._helpers import greeting", "def greeting(name: str) -> str:\n        return name"
    )
    write(tmp_path / "site", {"team_skills/__init__.py": "", "team_skills/ops.py": ops})
    monkeypatch.syspath_prepend(str(tmp_path / "site"))

    async def shout(ctx: SkillContext, *, text: str) -> str:
        """Shout a text."""
        return text.upper()

    @skill
    async def whisper(ctx: SkillContext, *, text: str) -> str:
        """Whisper a text."""
        return text.lower()

    registry = load_skills("team_skills", shout, whisper)
    assert registry.names == ["greet", "shout", "whisper"]
    assert registry["shout"].description == "Shout a text."


def test_unknown_sources_and_missing_modules_are_load_errors(tmp_path: Path) -> None:
    with pytest.raises(SkillLoadError, match="not_a_real_skill_module"):
        load_skills("not_a_real_skill_module")
    with pytest.raises(SkillLoadError, match="not a folder"):
        load_skills(tmp_path / "missing")
    with pytest.raises(SkillLoadError, match="cannot load skills from 42"):
        load_skills(42)


def test_registry_lookup_specs_and_iteration() -> None:
    @skill
    async def first(ctx: SkillContext) -> None:
        """First."""

    @skill
    async def second(ctx: SkillContext) -> None:
        """Second."""

    registry = SkillRegistry([first, second])
    registry.add(first)  # the same skill again is not a duplicate
    assert len(registry) == 2
    assert "first" in registry
    assert list(registry) == [first, second]
    assert [spec["name"] for spec in registry.tool_specs()] == ["first", "second"]
    with pytest.raises(SkillError, match="no skill named 'third'; the skills are: first, second"):
        registry.get("third")


async def test_registry_invoke_of_an_unknown_skill_is_a_failed_result() -> None:
    result = await SkillRegistry().invoke("nope", SkillContext(tabs=NoTabs()), "{}")
    assert not result.ok
    assert result.error == "UnknownSkill"
    assert "no skill named 'nope'" in result.message


def test_the_bundled_pack_loads_from_the_checkout() -> None:
    folder = bundled_skills_dir()
    assert (folder / "web" / "SKILL.md").is_file()
    registry = bundled_skills()
    expected = {
        "login", "fill_form", "dismiss_interruptions", "find_rows", "read_table", "download_file", "attach_file",
        "select_date", "choose_option", "wait_until_idle", "search", "enter_invoice", "reply_to_ticket",
        "update_vendor_bank_details",
    }  # fmt: skip
    assert set(registry.names) == expected
    assert registry["update_vendor_bank_details"].irreversible
    assert not registry["enter_invoice"].irreversible, "only its final confirmation is irreversible"
    for spec in registry.tool_specs():
        assert spec["description"]
        assert spec["parameters"]["type"] == "object"


def test_the_wheel_bundles_the_pack_where_the_loader_looks() -> None:
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text(encoding="utf-8")
    assert '"skills" = "operator_agent/_bundled/skills"' in pyproject
