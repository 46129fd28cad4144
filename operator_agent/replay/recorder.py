"""Capturing locator chains while a run records, from outside the agent loop.

The agent loop stores a locator chain in each :class:`~operator_agent.trace.ActionRecord` it
writes. :class:`LocatorRecorder` does the same for runs made where the loop does not (yet) capture
them: it wraps the run's model, and whenever the model answers with actions on elements, it
captures each element's chain from the page before the actions run. :meth:`LocatorRecorder.annotate`
then writes the chains into the run's ``trace.jsonl``, matched by tool call id.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from operator_agent.errors import ModelResponseError, TraceError
from operator_agent.logs import get_logger
from operator_agent.models import Message, Model, ModelResponse, ModelSettings, ToolSpec
from operator_agent.observe.refs import REF_ATTRIBUTE, ElementRef
from operator_agent.replay.locators import capture_locator_chain

__all__ = ["LocatorRecorder"]

_log = get_logger("operator_agent.replay")


class LocatorRecorder:
    """A :class:`~operator_agent.models.Model` wrapper that captures locator chains as the run goes.

    Args:
        inner: The model that plans the run.
        page: Returns the tab the run acts on when asked (for an agent on a shared
            :class:`~operator_agent.browser.BrowserSession`: ``lambda: session.contexts[-1].page``).
    """

    def __init__(self, *, inner: Model, page: Callable[[], Page | None]) -> None:
        self._inner = inner
        self._page = page
        self.chains: dict[str, list[dict[str, str]]] = {}

    @property
    def name(self) -> str:
        """The inner model's name."""
        return self._inner.name

    async def request(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec],
        settings: ModelSettings | None = None,
    ) -> ModelResponse:
        """Ask the inner model, then capture the chain of every element its tool calls name."""
        response = await self._inner.request(messages, tools=tools, settings=settings)
        page = self._page()
        if page is None or page.is_closed():
            return response
        for call in response.tool_calls:
            try:
                ref = call.parsed_arguments().get("ref")
            except ModelResponseError:
                continue
            if not isinstance(ref, str) or not ref:
                continue
            element = await _element(page, ref)
            if element is not None:
                self.chains[call.id] = await capture_locator_chain(element)
        return response

    def annotate(self, trace_dir: str | os.PathLike[str]) -> int:
        """Write the captured chains into a run's ``trace.jsonl`` (where a record has none yet).

        Args:
            trace_dir: The run's trace folder.

        Returns:
            How many action records got a chain.

        Raises:
            TraceError: If the trace is missing or a line is not JSON.
        """
        path = Path(trace_dir) / "trace.jsonl"
        if not path.is_file():
            raise TraceError(f"no trace found at {path}")
        changed = 0
        lines = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TraceError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            for action in record.get("actions", []) if isinstance(record, dict) else []:
                chain = self.chains.get(str(action.get("tool_call_id")))
                if chain and not action.get("locators"):
                    action["locators"] = chain
                    changed += 1
            lines.append(json.dumps(record, ensure_ascii=False))
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        _log.debug("trace annotated with locator chains", trace=str(path), actions=changed)
        return changed


async def _element(page: Page, ref: str) -> ElementRef | None:
    from operator_agent.skills._elements import element_ref

    selector = f'[{REF_ATTRIBUTE}="{ref}"]'
    for frame in page.frames:
        if frame.is_detached():
            continue
        locator = frame.locator(selector)
        try:
            if await locator.count() != 1:
                continue
            return await element_ref(locator, ref=ref, timeout_ms=2000)
        except (PlaywrightError, Exception) as exc:  # the element may go while we read it
            _log.debug("no chain captured", ref=ref, error=str(exc).splitlines()[0] if str(exc) else "")
            return None
    return None
