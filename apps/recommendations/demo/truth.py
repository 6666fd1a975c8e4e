"""The documented ground truth behind ``seed_demo``'s projects (demo data, not a computed claim).

success = clip(  62
               + CLASS_EFFECT[problem_class]                 (classification +4 … vision −4)
               + INDUSTRY_EFFECT[industry]                   (e-commerce +4 … healthcare −6; visible only in the spec)
               − 0.18 · (complexity − 50)
               + 12 · senior_share                           (share of senior, staff and principal members)
               − 2.5 · |team_size − ideal_size|,  ideal_size = 2 + complexity / 20
               + 5 if a data engineer is on a project of complexity ≥ 40, else +1 with one, 0 without
               + 4 if an MLOps engineer is on a project of complexity ≥ 60
               + 0.3 · min(mean years of experience, 15)
               + Σ ARTIFACT_EFFECT of the artifacts used     (helpful +6 … +8, harmful −7 … −8, others 0)
               + ε,  ε ~ Normal(0, 4)
             , 0, 100)

duration_days = planned_days · (1 + 0.004 · (complexity − 50) − 0.25 · senior_share + 0.10 · [a harmful artifact used])
                · LogNormal(0, 0.10)
compute_cost  = (500 + 60 · complexity) · CLASS_COST[problem_class] · (1 + 0.1 · team_size) · LogNormal(0, 0.25)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_EFFECT = {
    "classification": 4.0,
    "regression": 2.0,
    "recommendation": 0.0,
    "forecasting": -2.0,
    "nlp": -1.0,
    "vision": -4.0,
    "other": -3.0,
}
CLASS_COST = {
    "classification": 1.0,
    "regression": 1.0,
    "forecasting": 1.2,
    "nlp": 2.0,
    "vision": 2.5,
    "recommendation": 1.5,
    "other": 1.0,
}
INDUSTRY_EFFECT = {
    "telecom": 2.0,
    "retail": 3.0,
    "banking": 0.0,
    "healthcare": -6.0,
    "logistics": 1.0,
    "energy": -2.0,
    "insurance": -1.0,
    "e-commerce": 4.0,
    "manufacturing": -3.0,
    "media": 1.0,
    "public sector": -5.0,
    "pharma": -4.0,
}
SENIOR_LEVELS = ("senior", "staff", "principal")
NOISE_SD = 4.0


@dataclass(frozen=True)
class TeamFacts:
    size: int
    senior_share: float
    mean_years: float
    has_data_engineer: bool
    has_mlops: bool


def team_facts(members) -> TeamFacts:
    """``members``: objects with ``role``, ``level`` and ``years``."""
    size = len(members)
    if size == 0:
        return TeamFacts(0, 0.0, 0.0, False, False)
    return TeamFacts(
        size=size,
        senior_share=sum(m.level in SENIOR_LEVELS for m in members) / size,
        mean_years=float(np.mean([m.years for m in members])),
        has_data_engineer=any(m.role == "data_engineer" for m in members),
        has_mlops=any(m.role == "mlops" for m in members),
    )


def expected_success(
    *, problem_class: str, industry: str, complexity: float, team: TeamFacts, artifact_effects: list[float]
) -> float:
    """The noise-free part of the ground truth (before clipping)."""
    ideal = 2 + complexity / 20
    value = 62.0 + CLASS_EFFECT[problem_class] + INDUSTRY_EFFECT[industry] - 0.18 * (complexity - 50)
    value += 12.0 * team.senior_share - 2.5 * abs(team.size - ideal)
    if team.has_data_engineer:
        value += 5.0 if complexity >= 40 else 1.0
    if team.has_mlops and complexity >= 60:
        value += 4.0
    value += 0.3 * min(team.mean_years, 15.0)
    value += float(sum(artifact_effects))
    return value


def success(rng: np.random.Generator, **kwargs) -> float:
    return float(np.clip(expected_success(**kwargs) + rng.normal(0.0, NOISE_SD), 0.0, 100.0))


def duration_days(
    rng: np.random.Generator, *, planned_days: float, complexity: float, team: TeamFacts, harmful_used: bool
) -> float:
    factor = 1 + 0.004 * (complexity - 50) - 0.25 * team.senior_share + (0.10 if harmful_used else 0.0)
    return max(7.0, planned_days * factor * float(rng.lognormal(0.0, 0.10)))


def compute_cost(rng: np.random.Generator, *, problem_class: str, complexity: float, team_size: int) -> float:
    base = (500 + 60 * complexity) * CLASS_COST[problem_class] * (1 + 0.1 * team_size)
    return round(base * float(rng.lognormal(0.0, 0.25)), 2)
