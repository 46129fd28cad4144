"""The replay session: settings shared by the compiled skills replayed in a block, and what they found.

A :class:`ReplaySession` is entered with ``with``; every :class:`~operator_agent.replay.Replayer`
created inside it (one per compiled skill call) uses its model and timeouts, and reports its
steps (:class:`ReplayedStep`) and heals (:class:`Heal`) to it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.errors import ConfigurationError
from operator_agent.models import Model, Usage
from operator_agent.replay.locators import describe_strategy

__all__ = ["Heal", "ReplaySession", "ReplayedStep", "current_session"]


class Heal(BaseModel):
    """One step that did not find its element the recorded way, and how it was found instead.

    Attributes:
        skill: The compiled skill.
        source: Its Python file, if known.
        step: The step number.
        intent: What the step does, as recorded.
        via: ``fallback`` (a later strategy of the chain) or ``model`` (model-assisted re-targeting).
        why: What the earlier strategies found.
        used: The strategy that found the element (for a model heal, the first of the new chain).
        recorded: The chain the skill holds.
        proposed: The chain to write instead: the element's chain on the page as it is now, then
            the recorded strategies it does not already hold.
        params: The skill's arguments, so the diff can write parameters instead of their values.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill: str
    source: str | None
    step: int
    intent: str
    via: Literal["fallback", "model"]
    why: str
    used: dict[str, str]
    recorded: list[dict[str, str]]
    proposed: list[dict[str, str]]
    params: dict[str, Any] = Field(default_factory=dict)

    def describe(self) -> str:
        """One line: ``step 4 (fill textbox "Invoice number") healed by fallback: css input[...]``."""
        return f"step {self.step} ({self.intent}) healed by {self.via}: {describe_strategy(self.used)}"


class ReplayedStep(BaseModel):
    """What one replayed step did.

    Attributes:
        skill: The compiled skill.
        step: The step number.
        kind: The action kind.
        intent: What the step does.
        ok: Whether it succeeded.
        strategy: The strategy that found its element, if it has one.
        healed: How it was healed, if it was.
        message: What happened.
        url: The page after the step.
        locators: The chain that found the element (for the trace).
        duration_ms: How long it took.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill: str
    step: int
    kind: str
    intent: str
    ok: bool
    strategy: str | None = None
    healed: Literal["fallback", "model"] | None = None
    message: str = ""
    url: str = ""
    locators: list[dict[str, str]] = Field(default_factory=list)
    duration_ms: float = 0.0


_SESSION: ContextVar[ReplaySession | None] = ContextVar("operator_agent_replay_session", default=None)


def current_session() -> ReplaySession | None:
    """The replay session active in this context, if any."""
    return _SESSION.get()


class ReplaySession:
    """Settings and findings shared by the compiled skills replayed inside a ``with`` block.

    ``with ReplaySession(model=model) as session: await enter_invoice(ctx, ...)``, then read
    :attr:`heals` or :meth:`diff`. Outside any session, a skill replays with the defaults and no
    model (unless its skill context has one), and heals are only logged.

    Args:
        model: The model for model-assisted re-targeting; ``None`` heals through fallbacks only.
        locate_timeout_s: How long a step waits for its element.
        heal_grace_s: How long the first strategy may take to appear before a fallback is used.
        postcondition_timeout_s: How long a step waits for its postcondition.
        screenshot_dir: Where screenshots of failed steps go; the skill context's run folder
            (``replay/``) when ``None``.
        on_step: Called with each replayed step.

    Raises:
        ConfigurationError: If a timeout is not positive.
    """

    def __init__(
        self,
        *,
        model: Model | None = None,
        locate_timeout_s: float = 8.0,
        heal_grace_s: float = 0.5,
        postcondition_timeout_s: float = 10.0,
        screenshot_dir: str | Path | None = None,
        on_step: Callable[[ReplayedStep], None] | None = None,
    ) -> None:
        for label, value in (
            ("locate_timeout_s", locate_timeout_s),
            ("postcondition_timeout_s", postcondition_timeout_s),
        ):
            if value <= 0:
                raise ConfigurationError(f"ReplaySession {label} must be positive, got {value}")
        if heal_grace_s < 0:
            raise ConfigurationError(f"ReplaySession heal_grace_s must be >= 0, got {heal_grace_s}")
        self.model = model
        self.locate_timeout_s = locate_timeout_s
        self.heal_grace_s = heal_grace_s
        self.postcondition_timeout_s = postcondition_timeout_s
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir is not None else None
        self._on_step = on_step
        self.heals: list[Heal] = []
        self.steps: list[ReplayedStep] = []
        self.model_calls = 0
        self.usage = Usage()
        self._token: Any = None
        self._opened: tuple[str, str] | None = None

    def opened(self, url: str, *, landed: str) -> None:
        """Say that the tab was just opened at ``url`` (by :func:`~operator_agent.replay.replay_skill`).

        A compiled skill's first step opens its start page; when that is the page just opened, the
        step finds it open instead of loading it a second time.

        Args:
            url: The address asked for.
            landed: Where the tab ended up (after redirects, such as to a sign-in page).
        """
        self._opened = (url, landed)

    def take_opened(self) -> tuple[str, str] | None:
        """The address asked for and where the tab landed, once: any later step sees ``None``."""
        opened, self._opened = self._opened, None
        return opened

    def __enter__(self) -> ReplaySession:
        self._token = _SESSION.set(self)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._token is not None:
            _SESSION.reset(self._token)
            self._token = None

    def add_step(self, step: ReplayedStep) -> None:
        """Record a replayed step (called by :class:`Replayer`)."""
        self.steps.append(step)
        if self._on_step is not None:
            self._on_step(step)

    def add_heal(self, heal: Heal) -> None:
        """Record a heal (called by :class:`Replayer`)."""
        self.heals.append(heal)

    def add_usage(self, usage: Usage) -> None:
        """Count one model call of re-targeting."""
        self.model_calls += 1
        self.usage = self.usage + usage

    def diff(self) -> str:
        """A unified diff of every skill file that had heals, with the proposed locators; ``""`` if none."""
        from operator_agent.replay.heal import heal_diff

        return heal_diff(self.heals)
