"""Figures as printed: each round's per side, then product / hand-written ratios (the median
of the rounds' ratios) beside their aims, then one ``summary:`` line."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bench.e2e.load import Latency, Throughput

PRODUCT = "product"
HANDWRITTEN = "hand-written"


def percentiles(samples: Sequence[float]) -> tuple[float, float]:
    """(p50, p99) in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p99 * 1000


def line(label: str, value: str) -> None:
    print(f"  {label:<46} {value}", flush=True)


@dataclass
class Rounds:
    """Every round's results, by side."""

    latency: dict[str, list[Latency]] = field(default_factory=dict)
    throughput: dict[str, list[Throughput]] = field(default_factory=dict)

    def add_latency(self, side: str, result: Latency) -> None:
        self.latency.setdefault(side, []).append(result)

    def add_throughput(self, side: str, result: Throughput) -> None:
        self.throughput.setdefault(side, []).append(result)


def print_latency(side: str, result: Latency) -> None:
    p50, p99 = percentiles(result.visible)
    r50, r99 = percentiles(result.response)
    e50, _ = percentiles(result.execution)
    t50, _ = percentiles(result.task)
    line(
        f"{side}: webhook → execution+task visible",
        f"p50 {p50:6.0f} ms  p99 {p99:6.0f} ms  ({len(result.visible)} at {result.rate:.1f}/s;"
        f" 202 p50 {r50:.0f} ms p99 {r99:.0f} ms; execution p50 {e50:.0f}, task p50 {t50:.0f})",
    )


def print_throughput(side: str, result: Throughput) -> None:
    waits = ", ".join(f"{name} {mean:.2f}" for name, mean in result.waits.items()) or "none"
    roles = ", ".join(
        f"{name} {spent / result.onboardings * 1000:.0f}"
        for name, spent in sorted(result.roles.items(), key=lambda kv: -kv[1])
    )
    line(
        f"{side}: onboardings/s, CPU ms per onboarding",
        f"{result.rate:5.2f}/s  {result.cpu_ms():5.0f} ms (app {result.cpu_ms('app'):.0f}"
        f" [{roles}],"
        f" Temporal {result.cpu_ms('temporal'):.0f}, Postgres {result.cpu_ms('postgres'):.0f};"
        f" app busy {result.cpu['app'] / result.seconds:.2f} cores;"
        f" {result.reads / result.onboardings:.0f} reads polled per onboarding; Postgres active"
        f" {result.active_backends:.2f}, waiting: {waits})",
    )


@dataclass(frozen=True)
class Figure:
    name: str
    unit: str
    per_round: Callable[[Rounds, str], list[float]]  # one value per round, for one side
    aim: float
    higher_is_better: bool

    def value(self, rounds: Rounds, side: str) -> float:
        """The median over the rounds."""
        values = self.per_round(rounds, side)
        return statistics.median(values) if values else float("nan")

    def round_ratios(self, rounds: Rounds) -> list[float]:
        """Product / hand-written of each round: the two ran minutes apart, so each pair met
        about the same machine."""
        ours, theirs = self.per_round(rounds, PRODUCT), self.per_round(rounds, HANDWRITTEN)
        pairs = zip(ours, theirs, strict=True)
        return [mine / other if other else float("nan") for mine, other in pairs]

    def verdict(self, ratio: float) -> str:
        met = ratio >= self.aim if self.higher_is_better else ratio <= self.aim
        sign = ">=" if self.higher_is_better else "<="
        return f"aim {sign} {self.aim:.1f}x: {'met' if met else 'missed'}"


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


FIGURES = (
    Figure(
        "webhook → execution+task visible p50",
        "ms",
        lambda r, s: [percentiles(x.visible)[0] for x in r.latency.get(s, [])],
        1.0,
        False,
    ),
    Figure(
        "webhook → execution+task visible p99",
        "ms",
        lambda r, s: [percentiles(x.visible)[1] for x in r.latency.get(s, [])],
        1.5,
        False,
    ),
    Figure(
        "onboardings/s at concurrency",
        "/s",
        lambda r, s: [x.rate for x in r.throughput.get(s, [])],
        1.0,
        True,
    ),
    Figure(
        "CPU ms per onboarding, all processes",
        "ms",
        lambda r, s: [x.cpu_ms() for x in r.throughput.get(s, [])],
        1.2,
        False,
    ),
)


def print_comparison(rounds: Rounds, count: int) -> str:
    """Each figure's ratio, the median of the rounds' ratios (each round's two sides ran minutes
    apart, on about the same machine; a ratio of the two sides' own medians could pair a quiet
    minute of one with a busy minute of the other). Answers the summary line."""
    print(
        f"over {count} round(s), {PRODUCT} / {HANDWRITTEN}: the median of the rounds' ratios"
        " (beside it, each side's own median)",
        flush=True,
    )
    parts = []
    for figure in FIGURES:
        ours, theirs = figure.value(rounds, PRODUCT), figure.value(rounds, HANDWRITTEN)
        ratios = figure.round_ratios(rounds)
        ratio = _median(ratios)
        line(
            figure.name,
            f"{ratio:5.2f}x   ({figure.verdict(ratio)}; {ours:.2f} {figure.unit} /"
            f" {theirs:.2f} {figure.unit})",
        )
        line("", "ratio in each round: " + ", ".join(f"{r:.2f}" for r in ratios))
        parts.append(f"{figure.name} {ratio:.2f}x ({figure.verdict(ratio)})")
    for group in ("app", "temporal", "postgres"):
        ours = _median([x.cpu_ms(group) for x in rounds.throughput.get(PRODUCT, [])])
        theirs = _median([x.cpu_ms(group) for x in rounds.throughput.get(HANDWRITTEN, [])])
        line(f"  CPU of which {group}", f"{ours:.0f} ms / {theirs:.0f} ms")
    return "summary: " + "; ".join(parts)
