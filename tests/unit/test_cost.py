"""Cost attribution, pure: money in micro-units, a task's cost from requests x run
time and its providers' usage x the configured prices, sums per user and type,
and the usage a task pod reports (meter, termination message, outcome)."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from devskyy_agents.clock import utc_iso
from devskyy_agents.ledger import Ledger
from devskyy_agents.models import DiagnosticOutput
from devskyy_agents.termination import MAX_MESSAGE_BYTES, write_failure, write_result
from devskyy_agents.usage import MAX_LINES, UsageLine, UsageMeter, parse_usage
from devskyy_operator.cost.compute import model_price, task_cost
from devskyy_operator.cost.money import format_micros, parse_amount, to_micros
from devskyy_operator.cost.sums import CostEntry, parse_entry, sum_costs
from devskyy_operator.job.outcome import job_outcome
from devskyy_operator.settings import CostSettings, ModelPrice, Settings
from tests.unit.factories import job_body, job_condition, pod_body

pytestmark = [pytest.mark.unit, pytest.mark.timeout(30)]

PRICES = CostSettings(
    cpu_core_hour=Decimal("0.04"),
    memory_gib_hour=Decimal("0.005"),
    models={
        "gpt-4o-mini": ModelPrice(
            input_per_million=Decimal("0.15"), output_per_million=Decimal("0.60")
        ),
        "gpt-4o": ModelPrice(input_per_million=Decimal("2.50"), output_per_million=Decimal("10")),
    },
    credits={"tripo": Decimal("0.01"), "fashn": Decimal("0.075")},
)
MICRO = Decimal("0.000001")


def micros(amount: Decimal) -> int:
    """The test's own rounding: half-up to a millionth."""
    return int(amount.quantize(MICRO, rounding=ROUND_HALF_UP) / MICRO)


# ----------------------------------------------------------------- money


def test_micro_units_round_half_up_once_and_print_six_places() -> None:
    assert to_micros(Decimal("0.0000005")) == 1
    assert to_micros(Decimal("0.00000049")) == 0
    assert format_micros(1) == "0.000001"
    assert format_micros(12_345_678) == "12.345678"
    assert parse_amount("12.345678") == 12_345_678
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount("NaN")


def test_a_million_small_costs_add_up_exactly() -> None:
    """Floats would drift: 0.000001 * 10**6 is not 1.0 in binary floating point."""
    parts = [format_micros(1)] * 1_000_000
    assert format_micros(sum(parse_amount(p) for p in parts)) == "1.000000"
    assert sum(float(p) for p in parts) != 1.0


# ----------------------------------------------------------------- compute


def test_resource_cost_is_requests_times_run_time_times_prices() -> None:
    cost = task_cost({"cpu": "2", "memory": "1Gi"}, 1800.0, [], PRICES)
    expected = 2 * Decimal("0.5") * PRICES.cpu_core_hour + Decimal("0.5") * PRICES.memory_gib_hour
    assert parse_amount(cost.resource) == micros(expected)
    assert (cost.providers, cost.total) == ("0.000000", cost.resource)
    assert (cost.cpu_request, cost.memory_request, cost.run_seconds) == ("2", "1Gi", 1800.0)
    assert cost.currency == "USD"


def test_milli_cpu_and_mebibytes_are_exact_quantities() -> None:
    cost = task_cost({"cpu": "250m", "memory": "256Mi"}, 7.0, [], PRICES)
    hours = Decimal(7) / 3600
    expected = (
        Decimal("0.25") * hours * PRICES.cpu_core_hour
        + Decimal(256) / 1024 * hours * PRICES.memory_gib_hour
    )
    assert parse_amount(cost.resource) == micros(expected)


def test_tokens_are_priced_per_million_by_model_and_credits_per_provider() -> None:
    usage = [
        UsageLine(provider="openai", model="gpt-4o-mini", calls=1, input_tokens=1200,
                  output_tokens=800),
        UsageLine(provider="tripo", model="text_to_model", calls=1, credits=20),
        UsageLine(provider="fashn", model="tryon-v1.6", calls=1, credits=2),
    ]  # fmt: skip
    cost = task_cost({"cpu": "1", "memory": "1Gi"}, 3600.0, usage, PRICES)
    openai, tripo, fashn = cost.provider_lines
    llm = Decimal(1200) * Decimal("0.15") / 10**6 + Decimal(800) * Decimal("0.60") / 10**6
    assert parse_amount(openai.amount) == micros(llm)
    assert (openai.input_tokens, openai.output_tokens, openai.priced) == (1200, 800, True)
    assert parse_amount(tripo.amount) == micros(20 * PRICES.credits["tripo"])
    assert parse_amount(fashn.amount) == micros(2 * PRICES.credits["fashn"])
    providers = sum(parse_amount(line.amount) for line in cost.provider_lines)
    assert parse_amount(cost.providers) == providers
    assert parse_amount(cost.total) == parse_amount(cost.resource) + providers
    assert parse_amount(cost.resource) == micros(PRICES.cpu_core_hour + PRICES.memory_gib_hour)


def test_each_line_is_rounded_once_and_the_total_is_their_sum() -> None:
    # 50 x 0.15 + 80 x 0.60 per million = 0.0000555: 56 micro-units, half up.
    line = UsageLine(provider="openai", model="gpt-4o-mini", input_tokens=50, output_tokens=80)
    cost = task_cost({}, 0.0, [line, line], PRICES)
    assert [p.amount for p in cost.provider_lines] == ["0.000056", "0.000056"]
    assert cost.total == "0.000112"  # not round(0.000111)


def test_dated_model_names_take_the_longest_listed_prefix() -> None:
    assert model_price(PRICES, "gpt-4o-mini-2024-07-18") == PRICES.models["gpt-4o-mini"]
    assert model_price(PRICES, "gpt-4o-2024-08-06") == PRICES.models["gpt-4o"]
    assert model_price(PRICES, "gpt-4.1") is None


def test_usage_without_a_price_is_marked_unpriced_not_silently_free() -> None:
    usage = [
        UsageLine(provider="openai", model="o3", input_tokens=10, output_tokens=10),
        UsageLine(provider="meshy", model="x", credits=5),
    ]
    cost = task_cost({}, 0.0, usage, PRICES)
    assert [(p.amount, p.priced) for p in cost.provider_lines] == [
        ("0.000000", False),
        ("0.000000", False),
    ]


def test_the_default_prices_cover_the_writers_default_models() -> None:
    from devskyy_agents.marketing import anthropic_writer, gemini_writer, openai_writer

    prices = Settings().cost
    for writer in (openai_writer, anthropic_writer, gemini_writer):
        assert model_price(prices, writer.DEFAULT_MODEL) is not None, writer.NAME
    assert set(prices.credits) == {"tripo", "fashn"}


def test_a_status_cost_validates_against_its_own_schema() -> None:
    from devskyy_operator.crd.status import TaskStatus

    cost = task_cost({"cpu": "1"}, 10.0, [UsageLine(provider="tripo", credits=20)], PRICES)
    patch = TaskStatus(cost=cost).patch()["cost"]
    assert patch["providerLines"][0]["credits"] == 20
    assert TaskStatus.model_validate({"cost": patch}).cost == cost


# ----------------------------------------------------------------- sums


def test_sums_per_user_and_per_type() -> None:
    entries = [
        CostEntry("t1", "diagnostic", "alice", 10),
        CostEntry("t2", "marketing_campaign", "alice", 300),
        CostEntry("t3", "diagnostic", "bob", 5),
    ]
    by_user = {g.key: (g.micros, g.tasks) for g in sum_costs(entries, "user")}
    assert by_user == {"alice": (310, 2), "bob": (5, 1)}
    by_type = sum_costs(entries, "type")
    assert [(g.key, g.micros, g.tasks) for g in by_type] == [
        ("marketing_campaign", 300, 1),
        ("diagnostic", 15, 2),
    ]


def test_cost_index_members_parse_or_are_skipped() -> None:
    assert parse_entry("t1 diagnostic alice 42") == CostEntry("t1", "diagnostic", "alice", 42)
    assert parse_entry("t1 diagnostic alice -1") is None
    assert parse_entry("garbage") is None


# ----------------------------------------------------------------- what the pod reports


def test_the_meter_adds_per_provider_and_model_and_keeps_a_bound() -> None:
    meter = UsageMeter(Ledger.in_memory())
    meter.add_tokens("openai", "gpt-4o-mini", 50, 80)
    meter.add_tokens("openai", "gpt-4o-mini", 5, 8)
    meter.add_credits("tripo", "text_to_model", 20)
    assert meter.report() == [
        {"provider": "openai", "model": "gpt-4o-mini", "calls": 2, "input_tokens": 55,
         "output_tokens": 88},
        {"provider": "tripo", "model": "text_to_model", "calls": 1, "credits": 20},
    ]  # fmt: skip
    for n in range(MAX_LINES + 5):
        meter.add_credits("fashn", f"model-{n}", 1)
    assert len(meter.report()) == MAX_LINES


def test_a_persistent_ledger_carries_usage_to_the_next_attempt(tmp_path: Path) -> None:
    first = Ledger.open(tmp_path, persistent=True)
    UsageMeter(first).add_tokens("openai", "gpt-4o-mini", 50, 80)
    first.close()
    second = Ledger.open(tmp_path, persistent=True)
    meter = UsageMeter(second)
    meter.add_tokens("openai", "gpt-4o-mini", 1, 1)
    assert meter.report()[0] == {"provider": "openai", "model": "gpt-4o-mini", "calls": 2,
                                      "input_tokens": 51, "output_tokens": 81}  # fmt: skip
    second.close()


def test_bad_usage_lines_are_skipped() -> None:
    lines = parse_usage([{"provider": "openai", "input_tokens": -1}, {"x": 1}, {"provider": "a"}])
    assert lines == [UsageLine(provider="a")]
    assert parse_usage("not a list") == []


def _usage() -> list[dict[str, object]]:
    meter = UsageMeter(Ledger.in_memory())
    meter.add_tokens("openai", "gpt-4o-mini", 50, 80)
    return meter.report()


def test_usage_rides_in_the_termination_message_and_leaves_the_result(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    output = DiagnosticOutput(
        status="success", task_id="t1", result={"big": "x" * 5000}, completed_at=utc_iso()
    )
    write_result(log, tmp_path / "artifacts", "t1", output, _usage())
    message = log.read_text()
    assert len(message.encode()) <= MAX_MESSAGE_BYTES  # the big result spilled, usage stayed
    job = job_body(
        {"succeeded": 1, "startTime": "2026-01-05T12:00:01Z",
         "completionTime": "2026-01-05T12:00:09Z",
         "conditions": [job_condition("Complete", "", "", "2026-01-05T12:00:09Z")]}
    )  # fmt: skip
    outcome = job_outcome(job, [pod_body("a", "2026-01-05T12:00:01Z", phase="Succeeded",
                                         exit_code=0, message=message)])  # fmt: skip
    assert outcome.usage == tuple(parse_usage(_usage()))
    assert outcome.result is not None
    assert "usage" not in outcome.result
    assert outcome.result["result"]["result_ref"].endswith("t1/result.json")


def test_a_failure_record_carries_what_was_paid(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    write_failure(log, "t1", RuntimeError("x" * 10_000), [], _usage())
    record = json.loads(log.read_text())
    assert len(log.read_bytes()) <= MAX_MESSAGE_BYTES
    assert record["usage"] == _usage()
