"""Record once, replay without a model.

* :func:`capture_locator_chain`: the ways to find an element again, captured while a run records;
* :func:`compile_trace`: a completed run's trace becomes a reviewable Python skill;
* :class:`Replayer`, :class:`ReplaySession`: what a compiled skill runs on, with healing through
  fallbacks and, when a model is configured, model-assisted re-targeting; heals become a diff;
* :func:`replay_skill`: load a skill folder, open a browser and replay one skill, with a trace;
* :class:`CassetteModel`: record a model's answers once, replay them in CI;
* :func:`record_har`, :func:`replay_har`: a mock site made from a real site's traffic.
"""

from __future__ import annotations

from operator_agent.replay.cassette import CassetteModel
from operator_agent.replay.compiler import CompiledSkill, CompiledStep, compile_trace
from operator_agent.replay.har import record_har, replay_har, sanitize_har
from operator_agent.replay.heal import heal_diff
from operator_agent.replay.locators import (
    build_locator,
    capture_locator_chain,
    postcondition,
    url_matches,
    url_pattern,
)
from operator_agent.replay.run import ReplayResult, replay_skill
from operator_agent.replay.runtime import Replayer
from operator_agent.replay.session import Heal, ReplayedStep, ReplaySession, current_session

__all__ = [
    "CassetteModel",
    "CompiledSkill",
    "CompiledStep",
    "Heal",
    "ReplayResult",
    "ReplaySession",
    "ReplayedStep",
    "Replayer",
    "build_locator",
    "capture_locator_chain",
    "compile_trace",
    "current_session",
    "heal_diff",
    "postcondition",
    "record_har",
    "replay_har",
    "replay_skill",
    "sanitize_har",
    "url_matches",
    "url_pattern",
]
