"""A task's cost from what it requested, how long it ran and what its providers
reported (pure: prices from the settings, facts from the Job and the pod's usage).

resource = cpu cores x hours x cpu_core_hour + memory GiB x hours x memory_gib_hour,
model line = input tokens x input price / 1e6 + output tokens x output price / 1e6,
credit line = credits x the provider's credit price;
each rounded half-up to a micro-unit, the total their sum (money.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from devskyy_agents.usage import UsageLine
from devskyy_operator.cost.model import MAX_LINES, ProviderCost, TaskCost
from devskyy_operator.cost.money import format_micros, to_micros
from devskyy_operator.quantity import parse_quantity
from devskyy_operator.settings import CostSettings, ModelPrice

GIB = Decimal(2**30)
SECONDS_PER_HOUR = Decimal(3600)
MILLION = Decimal(1_000_000)


def model_price(prices: CostSettings, model: str) -> ModelPrice | None:
    """The price of `model`: its own entry, else the longest listed prefix of its name."""
    if model in prices.models:
        return prices.models[model]
    prefixes = [name for name in prices.models if model.startswith(name)]
    return prices.models[max(prefixes, key=len)] if prefixes else None


def resource_micros(requests: Mapping[str, str], run_seconds: Decimal, prices: CostSettings) -> int:
    """Requested CPU and memory x run time, in micro-units (one rounding for both)."""
    cores = parse_quantity(requests.get("cpu", "0")) or Decimal(0)
    memory = parse_quantity(requests.get("memory", "0")) or Decimal(0)
    hours = run_seconds / SECONDS_PER_HOUR
    amount = cores * hours * prices.cpu_core_hour + memory / GIB * hours * prices.memory_gib_hour
    return to_micros(amount)


def line_cost(line: UsageLine, prices: CostSettings) -> ProviderCost:
    """One usage line priced: tokens by the model's price, credits by the provider's."""
    amount = Decimal(0)
    priced = True
    if line.input_tokens or line.output_tokens:
        price = model_price(prices, line.model)
        if price is None:
            priced = False
        else:
            amount += line.input_tokens * price.input_per_million / MILLION
            amount += line.output_tokens * price.output_per_million / MILLION
    if line.credits:
        credit = prices.credits.get(line.provider)
        if credit is None:
            priced = False
        else:
            amount += line.credits * credit
    return ProviderCost(
        provider=line.provider, model=line.model, calls=line.calls,
        input_tokens=line.input_tokens, output_tokens=line.output_tokens, credits=line.credits,
        amount=format_micros(to_micros(amount)), priced=priced,
    )  # fmt: skip


def task_cost(
    requests: Mapping[str, str],
    run_seconds: float,
    usage: Sequence[UsageLine],
    prices: CostSettings,
) -> TaskCost:
    """The cost of a finished task. `run_seconds` as the status records it (Job start to end)."""
    seconds = Decimal(str(max(0.0, run_seconds)))
    resource = resource_micros(requests, seconds, prices)
    lines = [line_cost(line, prices) for line in usage[:MAX_LINES]]
    providers = sum(to_micros(Decimal(line.amount)) for line in lines)
    return TaskCost(
        currency=prices.currency, total=format_micros(resource + providers),
        resource=format_micros(resource), providers=format_micros(providers),
        run_seconds=float(seconds), cpu_request=requests.get("cpu", ""),
        memory_request=requests.get("memory", ""), provider_lines=lines,
    )  # fmt: skip
