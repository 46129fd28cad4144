"""The :class:`SkillContext`: everything a skill may use to work on the page.

A skill never drives Playwright's input methods itself. It finds elements with
:meth:`SkillContext.locate` and acts with :meth:`~SkillContext.click`, :meth:`~SkillContext.fill`
and the other helpers, which go through the same machinery as a model's actions: the approval gate
for irreversible steps, the :class:`~operator_agent.act.ActionExecutor` (auto-waiting, read-back,
stale-element recovery, bounded retries, secrets typed in without being logged) and one log line
and one :class:`~operator_agent.skills.SkillStep` per step. Reading the page (``ctx.page``,
locators' ``inner_text`` and friends) is free.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pyotp
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page

from operator_agent.act import ActionExecutor, ActionOutcome, ContextTabs, Tabs
from operator_agent.act.targets import Seen
from operator_agent.actions import (
    Action,
    Check,
    Click,
    Fill,
    Navigate,
    Press,
    SelectOption,
    Uncheck,
    UploadFile,
    WaitFor,
)
from operator_agent.errors import (
    ConfigurationError,
    SkillError,
)
from operator_agent.guardrails.policy import Policy
from operator_agent.logs import register_secret_values
from operator_agent.skills._downloads import keep_download
from operator_agent.skills._steps import StepRunner, Target
from operator_agent.skills._trail import ApproveCallback, Trail
from operator_agent.skills.locate import LocateQuery, locate
from operator_agent.skills.result import SkillStep

if TYPE_CHECKING:
    from operator_agent.models import Model, Usage
    from operator_agent.observe import Observation
    from operator_agent.observe.refs import ElementRef

__all__ = ["ApproveCallback", "SkillContext"]

T = TypeVar("T")


class SkillContext:
    """What a running skill works with: the tabs, secrets, approvals, a model (optional), a folder.

    The agent loop builds one per run; scripts and tests use :meth:`for_page`.

    Args:
        tabs: The run's tabs (a :class:`~operator_agent.browser.RunContext`, or
            :class:`~operator_agent.act.ContextTabs` over a page); steps act on the current tab.
        secrets: Named secret values (passwords, TOTP seeds). Skills fill them by name; values
            never appear in a step, a result or a log line.
        policy: The engine's guardrail policy; when given, every step is judged by it like a model
            action (a step it flags needs approval even if the skill did not mark it, a blocked
            step fails). The agent passes its own.
        approve: Called before every step that needs approval, with the step kind (or the skill
            name), its target and its arguments; ``None`` allows every step.
        model: The model for :meth:`act` and :meth:`extract`; without one those raise.
        run_dir: The folder for the run's files (downloads land in ``downloads/``, uploads are
            taken from it). A new temporary folder when ``None``.
        upload_dirs: More folders files may be uploaded from.
        action_timeout_s: The time budget of one step, retries included.
        locate_timeout_s: How long :meth:`locate` waits for an element to appear.
        max_attempts: How many times a step's transient failure is tried, in total.
        run_id: Bound into every log line.
        on_step: Called with each step as it completes (for traces and progress displays).
        on_usage: Called with the usage of each model call made by :meth:`act` or :meth:`extract`.

    Raises:
        ConfigurationError: If a timeout is not positive or ``max_attempts`` is below 1.
    """

    def __init__(
        self,
        *,
        tabs: Tabs,
        secrets: Mapping[str, str] | None = None,
        approve: ApproveCallback | None = None,
        model: Model | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        upload_dirs: Sequence[str | os.PathLike[str]] = (),
        action_timeout_s: float = 10,
        locate_timeout_s: float = 8,
        max_attempts: int = 3,
        run_id: str | None = None,
        on_step: Callable[[SkillStep], None] | None = None,
        on_usage: Callable[[Usage], None] | None = None,
        policy: Policy | None = None,
    ) -> None:
        if locate_timeout_s <= 0:
            raise ConfigurationError(f"locate_timeout_s must be positive, got {locate_timeout_s}")
        self._tabs = tabs
        # Kept as given: a run's secret store resolves values (fresh TOTP codes...) when read.
        self._secrets: Mapping[str, str] = secrets if secrets is not None else {}
        self._model = model
        self._run_dir = Path(run_dir) if run_dir is not None else None
        self._upload_dirs = tuple(Path(d) for d in upload_dirs)
        self._action_timeout_s = action_timeout_s
        self._max_attempts = max_attempts
        self.locate_timeout_s = locate_timeout_s
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._trail = Trail(approve=approve, run_id=self.run_id, on_step=on_step)
        self._on_usage = on_usage
        # Built now so a bad timeout or attempt count fails at construction.
        ActionExecutor(tabs=tabs, action_timeout_s=action_timeout_s, max_attempts=max_attempts)
        self._runner = StepRunner(
            tabs=tabs,
            trail=self._trail,
            secrets=self._secrets,
            run_dir=lambda: self.run_dir,
            upload_dirs=upload_dirs,
            locate=lambda name: self.locate(name=name),
            policy=policy,
            action_timeout_s=action_timeout_s,
            locate_timeout_s=locate_timeout_s,
            max_attempts=max_attempts,
        )

    @classmethod
    def for_page(
        cls,
        page: Page,
        *,
        secrets: Mapping[str, str] | None = None,
        approve: ApproveCallback | None = None,
        model: Model | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        upload_dirs: Sequence[str | os.PathLike[str]] = (),
        action_timeout_s: float = 10,
        locate_timeout_s: float = 8,
    ) -> SkillContext:
        """A context over a Playwright page and the other tabs of its browser context.

        Args:
            page: The tab to start in.
            secrets: Named secret values.
            approve: The approval callback; ``None`` allows every step.
            model: For :meth:`act` and :meth:`extract`.
            run_dir: The folder for downloads and uploads; a temporary one when ``None``.
            upload_dirs: More folders files may be uploaded from.
            action_timeout_s: The time budget of one step.
            locate_timeout_s: How long :meth:`locate` waits for an element.
        """
        return cls(
            tabs=ContextTabs(page=page),
            secrets=secrets,
            approve=approve,
            model=model,
            run_dir=run_dir,
            upload_dirs=upload_dirs,
            action_timeout_s=action_timeout_s,
            locate_timeout_s=locate_timeout_s,
        )

    # -- what a skill reads ------------------------------------------------------------------

    @property
    def page(self) -> Page:
        """The current tab."""
        return self._tabs.page

    @property
    def tabs(self) -> Tabs:
        """Every open tab of the run, and which one is current."""
        return self._tabs

    @property
    def run_dir(self) -> Path:
        """The run's folder (created on first use): downloads go to ``downloads/`` inside it."""
        if self._run_dir is None:
            self._run_dir = Path(tempfile.mkdtemp(prefix="operator-agent-skill-"))
        self._run_dir.mkdir(parents=True, exist_ok=True)
        return self._run_dir

    @property
    def skill_name(self) -> str | None:
        """The skill running now (the innermost one when skills call skills)."""
        return self._trail.skill_name

    @property
    def log(self) -> Any:
        """A structlog logger bound with the run id and the running skill's name."""
        return self._trail.log()

    @property
    def steps(self) -> list[SkillStep]:
        """Every step taken through this context so far."""
        return list(self._trail.steps)

    @property
    def has_model(self) -> bool:
        """Whether :meth:`act` and :meth:`extract` can be used."""
        return self._model is not None

    @property
    def model(self) -> Model | None:
        """The model :meth:`act` and :meth:`extract` use (and replays re-target with), if any."""
        return self._model

    def found_with(self, element: ElementRef, seen: Seen | None) -> AbstractContextManager[None]:
        """For a finder that read :class:`~operator_agent.act.targets.Seen` in the call that found
        ``element``: inside the block, the next step on ``element`` acts without reading it again."""
        return self._runner.seen(element, seen)

    @property
    def secret_names(self) -> list[str]:
        """The names of the secrets this context holds (never their values)."""
        return sorted(self._secrets)

    def secret(self, name: str) -> str:
        """The value of a named secret. Never log it or return it from a skill.

        Raises:
            SkillError: If there is no such secret; the message lists the names there are.
        """
        try:
            return self._secrets[name]
        except KeyError:
            known = ", ".join(f'"{n}"' for n in sorted(self._secrets)) or "none"
            raise SkillError(
                f'skill {self.skill_name or "(none)"}: there is no secret named "{name}"; the secrets of '
                f"this run are: {known}"
            ) from None

    def totp(self, name: str) -> str:
        """The current code of the TOTP secret ``name``.

        The secret is either a base32 seed, or a secret that already yields the current code
        (an :class:`operator_agent.secrets.TOTP` in the run's secrets).

        Raises:
            SkillError: If there is no such secret or it is not a valid base32 TOTP seed.
        """
        seed = self.secret(name)
        if _is_code(seed):
            return seed
        try:
            return pyotp.TOTP(seed.replace(" ", "")).now()
        except (ValueError, TypeError) as exc:
            raise SkillError(f'secret "{name}" is not a base32 TOTP seed ({type(exc).__name__})') from None

    def _secret_values(self) -> list[str]:
        """The secret values to hide: the ones handed out so far when the store keeps count."""
        known = getattr(self._secrets, "known_values", None)
        return list(known()) if callable(known) else list(self._secrets.values())

    # -- finding elements ----------------------------------------------------------------------

    async def locate(
        self,
        *,
        role: str | None = None,
        name: str | None = None,
        label: str | None = None,
        placeholder: str | None = None,
        test_id: str | None = None,
        id: str | None = None,
        text: str | None = None,
        css: str | None = None,
        exact: bool = False,
        within: Locator | None = None,
        timeout_s: float | None = None,
    ) -> Locator:
        """Find exactly one visible element by what it is called (see :mod:`operator_agent.skills.locate`).

        Strategies are tried in this order: role and accessible name, label, placeholder, test
        id, id, text, CSS, in the page and its iframes (or only inside ``within``), through open
        shadow roots. A strategy that matches several elements is skipped.

        Raises:
            ElementNotFoundError: If no strategy matched exactly one visible element within the
                timeout; the message lists every strategy tried and what it found.
        """
        query = LocateQuery(
            role=role,
            name=name,
            label=label,
            placeholder=placeholder,
            test_id=test_id,
            id=id,
            text=text,
            css=css,
            exact=exact,
        )
        wait = self.locate_timeout_s if timeout_s is None else timeout_s
        located = await locate(self.page, query, within=within, timeout_s=wait)
        return located.locator

    # -- acting ----------------------------------------------------------------------------------

    async def click(
        self,
        target: Target,
        *,
        irreversible: bool = False,
        button: Literal["left", "right", "middle"] = "left",
        double: bool = False,
    ) -> ActionOutcome:
        """Click an element.

        Args:
            target: A locator, or the element's name (``"Save draft"``).
            irreversible: The click submits, pays, sends or deletes: ask for approval first.
            button: The mouse button.
            double: Double-click.

        Raises:
            ApprovalDeniedError: If the step needed approval and was denied (nothing was clicked).
            ElementNotFoundError: If the target was not found.
            ActionError: If the click could not be carried out.
        """
        return await self._runner.act(
            "click",
            target,
            lambda ref: Click(ref=ref or "", button=button, double=double, irreversible=irreversible),
            irreversible=irreversible,
            arguments={"button": button, "double": double} if button != "left" or double else {},
        )

    async def fill(
        self,
        target: Target,
        text: str | None = None,
        *,
        secret: str | None = None,
        submit: bool = False,
        irreversible: bool = False,
    ) -> ActionOutcome:
        """Replace the content of a text field with ``text``, or with the value of a named secret.

        Dates are written in the format the field wants (native date inputs, ``DD/MM/YYYY``
        placeholders); a field that ignores a direct fill is typed into key by key.

        Raises:
            ConfigurationError: If not exactly one of ``text`` and ``secret`` is given.
            ApprovalDeniedError: If the step needed approval and was denied.
            ElementNotFoundError: If the target was not found.
            ActionError: If the field did not take the value.
        """
        if (text is None) == (secret is None):
            raise ConfigurationError("ctx.fill needs exactly one of text or secret")
        arguments: dict[str, Any] = {"secret": secret} if secret is not None else {"text": text}
        if submit:
            arguments["submit"] = True
        return await self._runner.act(
            "fill",
            target,
            lambda ref: Fill(
                ref=ref or "", text=text, secret=secret, submit=submit, irreversible=irreversible
            ),
            irreversible=irreversible,
            arguments=arguments,
        )

    async def fill_totp(self, target: Target, *, secret: str) -> ActionOutcome:
        """Fill the current code of the TOTP seed stored as secret ``secret``.

        The code is typed like a secret: it never appears in a step, a result or a log line.

        Raises:
            SkillError: If there is no such secret or it is not a base32 TOTP seed.
            ElementNotFoundError, ActionError: As for :meth:`fill`.
        """
        # Read now, so the code is fresh even if the executor copied the secrets long ago.
        code = self.totp(secret)
        name = f"{secret} (current code)"
        executor = ActionExecutor(
            tabs=self._tabs,
            secrets={name: code},
            action_timeout_s=self._action_timeout_s,
            max_attempts=self._max_attempts,
        )
        with register_secret_values([code]):
            return await self._runner.act(
                "fill",
                target,
                lambda ref: Fill(ref=ref or "", secret=name),
                irreversible=False,
                arguments={"secret": name},
                executor=executor,
            )

    async def select(
        self, target: Target, values: str | Sequence[str], *, irreversible: bool = False
    ) -> ActionOutcome:
        """Choose options of a native ``<select>`` by label (then value).

        Raises:
            ApprovalDeniedError, ElementNotFoundError, ActionError: As for :meth:`click`.
        """
        chosen = [values] if isinstance(values, str) else list(values)
        return await self._runner.act(
            "select_option",
            target,
            lambda ref: SelectOption(ref=ref or "", values=chosen, irreversible=irreversible),
            irreversible=irreversible,
            arguments={"values": chosen},
        )

    async def check(
        self, target: Target, checked: bool = True, *, irreversible: bool = False
    ) -> ActionOutcome:
        """Make a checkbox, radio button or switch checked (or unchecked with ``checked=False``).

        Raises:
            ApprovalDeniedError, ElementNotFoundError, ActionError: As for :meth:`click`.
        """
        kind = "check" if checked else "uncheck"

        def make(ref: str | None) -> Action:
            if checked:
                return Check(ref=ref or "", irreversible=irreversible)
            return Uncheck(ref=ref or "", irreversible=irreversible)

        return await self._runner.act(kind, target, make, irreversible=irreversible, arguments={})

    async def press(
        self, keys: str, *, target: Target | None = None, irreversible: bool = False
    ) -> ActionOutcome:
        """Press a key or combination (``Enter``, ``Control+A``), on ``target`` or wherever focus is.

        Raises:
            ApprovalDeniedError, ElementNotFoundError, ActionError: As for :meth:`click`.
        """
        return await self._runner.act(
            "press",
            target,
            lambda ref: Press(keys=keys, ref=ref, irreversible=irreversible),
            irreversible=irreversible,
            arguments={"keys": keys},
        )

    async def upload(
        self, target: Target, paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], *,
        irreversible: bool = False,
    ) -> ActionOutcome:  # fmt: skip
        """Attach files to a file field (or to the button that opens a file picker).

        Relative paths are taken inside :attr:`run_dir`, then the other upload folders; a path
        outside them is refused.

        Raises:
            ApprovalDeniedError, ElementNotFoundError, ActionError: As for :meth:`click`.
        """
        items = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
        names = [os.fspath(p) for p in items]
        return await self._runner.act(
            "upload_file",
            target,
            lambda ref: UploadFile(ref=ref or "", paths=names, irreversible=irreversible),
            irreversible=irreversible,
            arguments={"paths": names},
        )

    async def goto(self, url: str) -> ActionOutcome:
        """Open a URL in the current tab (a path such as ``/invoices/new`` is relative to the page).

        Raises:
            ActionError: If the page could not be opened.
        """
        return await self._runner.act("navigate", None, lambda _: Navigate(url=url), irreversible=False,
                               arguments={"url": url})  # fmt: skip

    async def wait_for(
        self,
        *,
        text: str | None = None,
        target: Target | None = None,
        state: Literal["visible", "hidden", "network_idle"] = "visible",
        timeout_s: float = 10,
    ) -> ActionOutcome:
        """Wait until a text or element shows or goes away, or until the network is quiet.

        Raises:
            ActionError: If the wait timed out.
        """
        return await self._runner.act(
            "wait_for",
            target,
            lambda ref: WaitFor(text=text, ref=ref, state=state, timeout_s=min(timeout_s, 30)),
            irreversible=False,
            arguments={"text": text, "state": state} if text else {"state": state},
        )

    async def download(self, target: Target, *, timeout_s: float = 30) -> Path:
        """Click what starts a download and return the saved file.

        In a run context the file is the one the run saved in its downloads folder; otherwise it
        is saved in ``run_dir/downloads``, under a safe, unique name derived from the one the
        site suggested.

        Raises:
            SkillError: If no download started or it failed.
            ApprovalDeniedError, ElementNotFoundError, ActionError: As for :meth:`click`.
        """
        page = self.page
        started = time.perf_counter()
        what = target if isinstance(target, str) else None
        try:
            async with page.expect_download(timeout=timeout_s * 1000) as info:
                await self.click(target)
            download = await info.value
            failure = await download.failure()
        except PlaywrightError as exc:
            self._trail.record(
                "download", what, False, f"no download started: {str(exc).splitlines()[0]}", started
            )
            raise SkillError(
                f"skill {self.skill_name}: clicking {what or 'the element'} did not start a download within "
                f"{timeout_s:g} s"
            ) from None
        if failure is not None:
            self._trail.record(
                "download", download.suggested_filename, False, f"download failed: {failure}", started
            )
            raise SkillError(f"the download of {download.url} failed: {failure}")
        folder = self.run_dir / "downloads"
        path = await keep_download(
            download, tabs=self._tabs, folder=folder, timeout_s=timeout_s, trail=self._trail
        )
        size = path.stat().st_size
        self._trail.record(
            "download", download.suggested_filename, True, f"saved {path.name} ({size} bytes)", started
        )
        return path

    # -- model-assisted steps -------------------------------------------------------------------

    async def observe(self) -> Observation:
        """An observation of the current tab: the outline a model sees, with its refs."""
        from operator_agent.observe import observe

        return await observe(self.page)

    async def extract(self, schema: type[T], *, instruction: str, target: Target | None = None) -> T:
        """Read data from the page (or one element) into ``schema`` with one model call.

        Raises:
            SkillError: If this context has no model.
            ModelResponseError: If the model did not return data that validates.
        """
        from operator_agent.extract import extract_data

        model = self._require_model("extract", instruction)
        started = time.perf_counter()
        element = await self._runner.element(target) if target is not None else None
        data = await extract_data(
            model=model,
            page=self.page,
            element=element,
            instruction=instruction,
            output_type=schema,
            redact=tuple(self._secret_values()),
            on_usage=self._on_usage,
        )
        self._trail.record(
            "extract", element.describe() if element else None, True, instruction[:200], started
        )
        result: T = data
        return result

    async def act(self, instruction: str, *, irreversible: bool = False) -> list[ActionOutcome]:
        """Let the model carry out one fuzzy step (``"close whatever covers the form"``).

        The page is observed, the model answers with page actions, and they run through the
        approval gate and the executor like any other step. Keep the rest of the skill
        deterministic: this costs a model call.

        Args:
            instruction: What to do, in words.
            irreversible: Ask for approval before any of the model's actions.

        Raises:
            SkillError: If this context has no model, or the model proposed no usable action.
            ApprovalDeniedError: If an action needed approval and was denied.
            ActionError: If an action failed.
        """
        from operator_agent.skills._act import propose_actions

        model = self._require_model("act", instruction)
        observation = await self.observe()
        actions = await propose_actions(
            model,
            instruction=instruction,
            observation=observation,
            secret_names=self.secret_names,
            on_usage=self._on_usage,
            skill=self.skill_name,
        )
        outcomes: list[ActionOutcome] = []
        for action in actions:
            element = observation.refs.get(getattr(action, "ref", None) or "")
            target = element.describe() if element is not None else None
            arguments = action.model_dump(
                exclude={"kind", "reason", "irreversible", "ref"}, exclude_none=True
            )
            started = time.perf_counter()
            flagged = irreversible or bool(getattr(action, "irreversible", False))
            await self._trail.gate(action.kind, target, arguments, irreversible=flagged)
            outcome = await self._runner.executor().execute(action, refs=observation.refs)
            self._runner.finish(action.kind, target, outcome, started, flagged)
            outcomes.append(outcome)
            if outcome.navigated:
                break
        return outcomes

    # -- internals -------------------------------------------------------------------------------

    def _require_model(self, what: str, instruction: str) -> Model:
        if self._model is None:
            raise SkillError(
                f"skill {self.skill_name or '(none)'}: ctx.{what}({instruction[:60]!r}) needs a model, "
                "but this "
                "skill context has none; pass model=... (the agent passes its own) or do this step "
                "without the model"
            )
        return self._model


def _is_code(value: str) -> bool:
    """Whether a secret's value is already a one-time code (a base32 seed is much longer)."""
    return value.isdigit() and 6 <= len(value) <= 8
