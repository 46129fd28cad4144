"""What model tokens cost: a price table in USD per million tokens, per model name.

The default table covers a few current OpenAI models at their published list prices when this
release was made. Prices change and contracts differ: pass your own :class:`PriceTable` to
:class:`~operator_agent.models.OpenAIModel` when the numbers matter. A model that is not in the
table has an unknown cost (``None``); the library never guesses a price.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_PRICES", "ModelPrice", "PriceTable"]

# Dated snapshots ("gpt-4o-2024-08-06") are priced like their base name.
_SNAPSHOT_SUFFIX = re.compile(r"^-\d{4}-\d{2}-\d{2}$")


class ModelPrice(BaseModel):
    """The price of one model, in USD per million tokens.

    Attributes:
        input: Uncached input (prompt) tokens.
        cached_input: Input tokens served from the prompt cache; None means they cost ``input``.
        output: Output (completion) tokens, reasoning tokens included.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    output: float = Field(ge=0)

    def cost(self, *, input_tokens: int, cached_input_tokens: int, output_tokens: int) -> float:
        """The cost in USD of one request.

        Args:
            input_tokens: All prompt tokens, cached ones included.
            cached_input_tokens: How many of them were cached.
            output_tokens: Completion tokens.
        """
        cached = min(cached_input_tokens, input_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        micro_usd = (input_tokens - cached) * self.input + cached * cached_rate + output_tokens * self.output
        return micro_usd / 1_000_000


class PriceTable(BaseModel):
    """Prices per model name.

    A name matches its entry exactly, or as a dated snapshot of it (``gpt-4o-2024-08-06`` uses
    the ``gpt-4o`` price; ``gpt-4o-mini`` does not).

    Attributes:
        models: Model name to price.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: dict[str, ModelPrice] = Field(default_factory=dict)

    def price_of(self, model_name: str) -> ModelPrice | None:
        """The price of ``model_name``, or None if the table does not know it."""
        exact = self.models.get(model_name)
        if exact is not None:
            return exact
        for name, price in self.models.items():
            if model_name.startswith(name) and _SNAPSHOT_SUFFIX.match(model_name[len(name) :]):
                return price
        return None

    def cost(
        self, model_name: str, *, input_tokens: int, cached_input_tokens: int, output_tokens: int
    ) -> float | None:
        """The cost in USD of one request to ``model_name``; None if its price is unknown."""
        price = self.price_of(model_name)
        if price is None:
            return None
        return price.cost(
            input_tokens=input_tokens, cached_input_tokens=cached_input_tokens, output_tokens=output_tokens
        )

    def merged(self, extra: Mapping[str, ModelPrice]) -> PriceTable:
        """A new table with ``extra`` added (replacing entries of the same name)."""
        return PriceTable(models={**self.models, **extra})


def _price(input_usd: float, cached_usd: float, output_usd: float) -> ModelPrice:
    return ModelPrice(input=input_usd, cached_input=cached_usd, output=output_usd)


DEFAULT_PRICES = PriceTable(
    models={
        "gpt-4o": _price(2.50, 1.25, 10.00),
        "gpt-4o-mini": _price(0.15, 0.075, 0.60),
        "gpt-4.1": _price(2.00, 0.50, 8.00),
        "gpt-4.1-mini": _price(0.40, 0.10, 1.60),
        "gpt-4.1-nano": _price(0.10, 0.025, 0.40),
        "gpt-5": _price(1.25, 0.125, 10.00),
        "gpt-5-mini": _price(0.25, 0.025, 2.00),
        "gpt-5-nano": _price(0.05, 0.005, 0.40),
        "o3": _price(2.00, 0.50, 8.00),
        "o4-mini": _price(1.10, 0.275, 4.40),
    }
)
"""List prices (USD per million tokens) of a few OpenAI models; extend with :meth:`PriceTable.merged`."""
