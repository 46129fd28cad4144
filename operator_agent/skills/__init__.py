"""Skills: reusable, typed, tested know-how for web apps, callable by scripts and by the model.

A skill is an ``async def`` decorated with :func:`skill`. Its first parameter is the
:class:`SkillContext` (the page, approvals, secrets, an optional model); the others are typed
keyword parameters, from which the skill's JSON schema is built. Scripts ``await`` a skill like
the function; the agent offers it to the model as one tool (:meth:`Skill.tool_spec`) and runs the
model's call with :meth:`Skill.invoke`. :func:`load_skills` reads skill folders, modules and
functions into a :class:`SkillRegistry`; :func:`bundled_skills` is the pack that ships with the
library (generic web skills and back-office examples).
"""

from __future__ import annotations

from operator_agent.skills._steps import Target
from operator_agent.skills._trail import approval_callback
from operator_agent.skills.context import ApproveCallback, SkillContext
from operator_agent.skills.decorator import skill
from operator_agent.skills.loader import (
    SKILL_DOC,
    SkillSource,
    bundled_skills,
    bundled_skills_dir,
    load_skills,
)
from operator_agent.skills.locate import Located, LocateQuery, locate
from operator_agent.skills.model import Skill
from operator_agent.skills.registry import SkillRegistry
from operator_agent.skills.result import SkillResult, SkillStep

__all__ = [
    "SKILL_DOC",
    "ApproveCallback",
    "LocateQuery",
    "Located",
    "Skill",
    "SkillContext",
    "SkillRegistry",
    "SkillResult",
    "SkillSource",
    "SkillStep",
    "Target",
    "approval_callback",
    "bundled_skills",
    "bundled_skills_dir",
    "load_skills",
    "locate",
    "skill",
]
