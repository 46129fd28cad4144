from __future__ import annotations

import inspect

import operator_agent


def test_all_is_complete_and_importable() -> None:
    exported = set(operator_agent.__all__)
    assert len(exported) == len(operator_agent.__all__), "duplicates in __all__"
    for name in exported:
        assert hasattr(operator_agent, name), name
    public = {
        name
        for name, value in vars(operator_agent).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert public - exported == set(), "public names missing from __all__"


def test_agent_configuration_is_keyword_only() -> None:
    for cls in (operator_agent.Agent, operator_agent.BrowserSession, operator_agent.OpenAIModel):
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params), cls.__name__
