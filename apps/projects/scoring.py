"""The success_score composite: a pure function on plain numbers (no ORM), so it is testable with numbers.

    success_score = 100 × Σ wᵢ·cᵢ / Σ wᵢ      over the components i that are *available*

    components cᵢ (each in 0–1):
      model_performance                                   (already 0–1)
      business_impact / 100                               (business_impact is 0–100)
      cost_efficiency = 1 / (1 + compute_cost / cost_reference)   (1 at zero cost, 0.5 at cost_reference, → 0)

A component is *weighted* when its weight is > 0 and *available* when it is weighted and its outcome field is given.
At least ``min_components`` weighted components must be available; otherwise the score is not computed and the
missing weighted fields are reported (:class:`InsufficientOutcome`). Components with weight 0 never count.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

COMPONENT_FIELDS = ("model_performance", "business_impact", "compute_cost")


@dataclass(frozen=True)
class ScoringWeights:
    w_model_performance: float = 0.4
    w_business_impact: float = 0.4
    w_cost_efficiency: float = 0.2
    cost_reference: float = 10_000.0
    min_components: int = 2

    def weight_of(self, field: str) -> float:
        return {
            "model_performance": self.w_model_performance,
            "business_impact": self.w_business_impact,
            "compute_cost": self.w_cost_efficiency,
        }[field]

    @property
    def weighted_fields(self) -> tuple[str, ...]:
        return tuple(field for field in COMPONENT_FIELDS if self.weight_of(field) > 0)


class InsufficientOutcome(Exception):
    """Too few outcome fields to compute the score. ``missing`` lists the weighted fields that were not given."""

    def __init__(self, *, missing: tuple[str, ...], needed: int, given: int):
        self.missing, self.needed, self.given = missing, needed, given
        super().__init__(
            f"success_score needs at least {needed} of the weighted outcome fields; {given} given, "
            f"missing: {', '.join(missing)}"
        )


def cost_efficiency(compute_cost: float | Decimal, cost_reference: float) -> float:
    """1 at zero cost, 0.5 at ``cost_reference``, approaching 0 as the cost grows."""
    return 1.0 / (1.0 + float(compute_cost) / cost_reference)


def success_score(
    *,
    model_performance: float | None,
    business_impact: float | None,
    compute_cost: float | Decimal | None,
    weights: ScoringWeights,
) -> float:
    """The composite score (0–100) from the outcome fields, or :class:`InsufficientOutcome`."""
    values = {"model_performance": model_performance, "business_impact": business_impact, "compute_cost": compute_cost}
    weighted = weights.weighted_fields
    available = [field for field in weighted if values[field] is not None]
    needed = min(weights.min_components, len(weighted)) if weighted else 1
    if len(available) < needed or not available:
        missing = tuple(field for field in weighted if values[field] is None)
        raise InsufficientOutcome(missing=missing, needed=needed, given=len(available))
    components = {
        "model_performance": lambda: float(model_performance),
        "business_impact": lambda: float(business_impact) / 100.0,
        "compute_cost": lambda: cost_efficiency(compute_cost, weights.cost_reference),
    }
    total_weight = sum(weights.weight_of(field) for field in available)
    score = 100.0 * sum(weights.weight_of(field) * components[field]() for field in available) / total_weight
    return round(min(100.0, max(0.0, score)), 4)
