"""The :class:`SkillRegistry`: the skills a run may use, by name, and their tool descriptions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from operator_agent.errors import SkillError, SkillLoadError
from operator_agent.skills.decorator import ACTION_KINDS
from operator_agent.skills.model import Skill
from operator_agent.skills.result import SkillResult

if TYPE_CHECKING:
    from operator_agent.skills.context import SkillContext

__all__ = ["SkillRegistry"]


def _origin(skill: Skill[Any]) -> str:
    return skill.source or skill.__module__


class SkillRegistry:
    """Skills by name, in the order they were added.

    Args:
        skills: Skills to add right away (see :meth:`add`).

    Raises:
        SkillLoadError: If two skills share a name or a name is an action kind.
    """

    def __init__(self, skills: Iterable[Skill[Any]] = ()) -> None:
        self._skills: dict[str, Skill[Any]] = {}
        for item in skills:
            self.add(item)

    def add(self, skill: Skill[Any]) -> None:
        """Add a skill; adding the very same skill again does nothing.

        Raises:
            SkillLoadError: If another skill already has this name, or the name is an action kind
                (``click``, ``fill``... ``done``); the message names both sources.
        """
        if not isinstance(skill, Skill):
            raise SkillLoadError(f"{skill!r} is not a Skill; decorate the function with @skill")
        if skill.name in ACTION_KINDS:
            raise SkillLoadError(
                f"skill '{skill.name}' from {_origin(skill)} has the name of a built-in action; rename it"
            )
        existing = self._skills.get(skill.name)
        if existing is skill:
            return
        if existing is not None:
            raise SkillLoadError(
                f"two skills are named '{skill.name}': one from {_origin(existing)}, "
                f"one from {_origin(skill)}; "
                "skill names must be unique"
            )
        self._skills[skill.name] = skill

    def get(self, name: str) -> Skill[Any]:
        """The skill called ``name``.

        Raises:
            SkillError: If there is none; the message lists the skills there are.
        """
        try:
            return self._skills[name]
        except KeyError:
            known = ", ".join(self._skills) or "none"
            raise SkillError(f"there is no skill named '{name}'; the skills are: {known}") from None

    def __getitem__(self, name: str) -> Skill[Any]:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._skills

    def __iter__(self) -> Iterator[Skill[Any]]:
        return iter(list(self._skills.values()))

    def __len__(self) -> int:
        return len(self._skills)

    def __repr__(self) -> str:
        return f"<SkillRegistry {', '.join(self._skills) or '(empty)'}>"

    @property
    def names(self) -> list[str]:
        """The skill names, in the order they were added."""
        return list(self._skills)

    def tool_specs(self) -> list[dict[str, Any]]:
        """One tool description per skill (``name``, ``description``, ``parameters``), in order.

        Same shape as :func:`operator_agent.actions.action_tool_specs`, so a model's tool list is
        ``action_tool_specs() + registry.tool_specs()``.
        """
        return [item.tool_spec() for item in self._skills.values()]

    async def invoke(self, name: str, ctx: SkillContext, arguments_json: str) -> SkillResult:
        """Run the skill a model called; an unknown name comes back as a failed result.

        Args:
            name: The tool name the model called.
            ctx: The run's skill context.
            arguments_json: The tool call's arguments as JSON.
        """
        item = self._skills.get(name)
        if item is None:
            return SkillResult(
                skill=name,
                ok=False,
                error="UnknownSkill",
                message=(
                    f"there is no skill named '{name}'; the skills are: {', '.join(self._skills) or 'none'}"
                ),
            )
        return await item.invoke(ctx, arguments_json)
