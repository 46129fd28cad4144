"""Prompt size over a long run: does the prompt stay flat as steps accumulate?

Runs the real loop (real Chromium, a local fixture page) with a model stand-in that clicks a
counter 29 times and then finishes, and measures the prompt the model receives at steps 1, 10, 20
and 30 (o200k_base tokens over every message). The baseline, measured in the same run, is the
prompt a naive loop would send: every earlier observation and reply kept verbatim.

Run: .venv/bin/python bench/history.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from operator_agent import Agent, Budget, FunctionModel, Message, ToolSpec, tool_call
from operator_agent.observe import count_tokens
from operator_agent.testing.site_server import serve_directory

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages" / "agent"
STEPS = 30


def _tokens(messages: list[Message]) -> int:
    calls = sum(count_tokens(c.arguments) for m in messages for c in m.tool_calls)
    return calls + sum(count_tokens(m.content) for m in messages)


async def main() -> int:
    prompts: list[int] = []
    observations: list[int] = []

    def clicker(messages: list[Message], tools: list[ToolSpec]) -> object:
        prompts.append(_tokens(messages))
        observations.append(count_tokens(messages[-1].content))
        if len(prompts) >= STEPS:
            return tool_call("done", output=len(prompts))
        return tool_call("click", ref="e1", reason="count up")

    with serve_directory(PAGES) as server:
        agent = Agent(model=FunctionModel(clicker), budget=Budget(max_steps=STEPS + 1), trace_dir=None)
        result = await agent.run("Press Increment 29 times", start_url=server.url + "/index.html")
    if result.status != "completed" or len(prompts) != STEPS:
        print(f"run did not finish as expected: {result.status} {result.reason}", file=sys.stderr)
        return 1
    naive = [sum(observations[: i + 1]) + 60 * i + prompts[0] - observations[0] for i in range(STEPS)]
    print(f"{'step':>5} {'prompt tokens':>14} {'naive history':>14} {'ratio':>7}")
    for step in (1, 10, 20, 30):
        i = step - 1
        print(f"{step:>5} {prompts[i]:>14,} {naive[i]:>14,} {prompts[i] / naive[i]:>7.2f}")
    print(f"growth step 30 / step 1: {prompts[-1] / prompts[0]:.2f}x (naive: {naive[-1] / naive[0]:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
