"""What tokens cost, per model: a built-in table the user can extend.

Prices are US dollars per million tokens (prompt, completion). A model is
matched by its exact name, then by the longest known prefix (so a dated
snapshot such as "gpt-4o-2024-08-06" takes "gpt-4o"'s price). A model not in
the table has no cost (None): tokens are still counted, the cost is "unknown".

Extend it with a dict or a JSON file of the same shape:

    {"my-model": {"prompt": 0.5, "completion": 1.5}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

__all__ = ["DEFAULT_PRICES", "Price", "PriceTable"]


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


# Published list prices at the time of writing; override them in a prices file.
DEFAULT_PRICES: Mapping[str, Price] = {
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    # The embedded model runs on this machine: no per-token price.
    "local:": Price(0.0, 0.0),
}


class PriceTable:
    """Looks up a model's price; immutable, `extended()` returns a new table."""

    def __init__(self, prices: Mapping[str, Price] | None = None) -> None:
        self._prices: dict[str, Price] = dict(DEFAULT_PRICES if prices is None else prices)

    def extended(self, extra: Mapping[str, Price | Mapping[str, float]]) -> PriceTable:
        """A table with `extra` added (its entries win)."""
        merged = dict(self._prices)
        for name, price in extra.items():
            merged[name] = price if isinstance(price, Price) else _parse_price(name, price)
        return PriceTable(merged)

    def extended_from_file(self, path: Path) -> PriceTable:
        """A table with the JSON file's entries added; a bad file is a ConfigError."""
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read prices file {path}: {e.strerror}") from e
        except ValueError as e:
            raise ConfigError(f"prices file {path} is not valid JSON: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(
                f'prices file {path} must be an object like {{"model": '
                '{"prompt": 0.5, "completion": 1.5}} (dollars per million tokens)'
            )
        return self.extended(data)

    def price(self, model: str) -> Price | None:
        if model in self._prices:
            return self._prices[model]
        prefixes = [name for name in self._prices if model.startswith(name)]
        return self._prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """Dollars for one call, or None when the model's price is unknown."""
        price = self.price(model)
        return None if price is None else price.cost(prompt_tokens, completion_tokens)


def _parse_price(name: str, raw: Any) -> Price:
    try:
        return Price(prompt=float(raw["prompt"]), completion=float(raw["completion"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(
            f'price for {name!r} must be {{"prompt": X, "completion": Y}} '
            f"(dollars per million tokens), got {raw!r}"
        ) from e
