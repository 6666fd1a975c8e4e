"""Generate demo projects (pure: NumPy's seeded Generator, no database) from the ground truth in ``demo.truth``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from apps.recommendations.demo import specs, truth

ROLE_WEIGHTS = {
    "ml_engineer": 3.0,
    "data_scientist": 3.0,
    "data_engineer": 1.6,
    "mlops": 1.0,
    "analyst": 1.2,
    "product_manager": 0.8,
    "domain_expert": 0.7,
    "other": 0.3,
}
LEVEL_WEIGHTS = {"junior": 2.5, "mid": 3.0, "senior": 2.0, "staff": 0.8, "principal": 0.4}
YEARS_RANGE = {"junior": (0, 2.5), "mid": (2, 6), "senior": (5, 11), "staff": (8, 16), "principal": (12, 25)}
STATUS_WEIGHTS = {"completed": 0.80, "active": 0.10, "planned": 0.06, "cancelled": 0.04}
PRIMARY_METRIC = {
    "classification": "val_auc",
    "regression": "val_mape",
    "forecasting": "val_wmape",
    "nlp": "val_f1",
    "vision": "val_map",
    "recommendation": "val_ndcg_at_10",
    "other": "val_score",
}
LOWER_IS_BETTER = {"val_mape", "val_wmape"}


@dataclass(frozen=True)
class DemoArtifact:
    name: str
    type: str
    description: str
    effect: float  # success points added by using it (ground truth)
    usage_rate: float  # share of projects that use it
    versions: tuple[str, ...] = ("1.0.0",)

    @property
    def kind(self) -> str:
        return "helpful" if self.effect > 0 else "harmful" if self.effect < 0 else "neutral"


# Laid out by hand, not by ruff: one row per artifact (name, type, description, effect, usage rate, versions).
CATALOG: tuple[DemoArtifact, ...] = (
    DemoArtifact("feature-store-pipeline", "feature_pipeline",
                 "Curated, point-in-time correct features from the feature store.", 8.0, 0.18, ("1.0.0", "1.1.0")),
    DemoArtifact("experiment-tracking-template", "model_template",
                 "Training template with tracked experiments, validation splits and reproducible seeds.", 6.0, 0.16,
                 ("1.0.0", "2.0.0")),
    DemoArtifact("legacy-etl-notebook", "notebook",
                 "Old ad-hoc ETL notebook; known to silently drop late-arriving records.", -8.0, 0.15, ("0.9.0",)),
    DemoArtifact("unvalidated-web-scrape", "dataset",
                 "Scraped reference data without schema checks or deduplication.", -7.0, 0.13, ("0.1.0", "0.2.0")),
    DemoArtifact("customer-360-schema", "schema", "Shared customer entity schema.", 0.0, 0.12, ("1.0.0", "1.2.0")),
    DemoArtifact("gradient-boosting-template", "model_template", "LightGBM baseline template.", 0.0, 0.14),
    DemoArtifact("text-cleaning-pipeline", "feature_pipeline", "Tokenisation and normalisation for text.", 0.0, 0.08),
    DemoArtifact("image-augmentation-pipeline", "pipeline", "Standard augmentations for vision.", 0.0, 0.06),
    DemoArtifact("holiday-calendar-dataset", "dataset", "Public holidays per country and region.", 0.0, 0.07),
    DemoArtifact("eda-starter-notebook", "notebook", "Exploratory analysis starter notebook.", 0.0, 0.20),
    DemoArtifact("model-card-template", "document", "Model card and review checklist.", 0.0, 0.11),
    DemoArtifact("batch-scoring-pipeline", "pipeline", "Nightly batch scoring job.", 0.0, 0.10, ("1.0.0", "1.0.1")),
    DemoArtifact("support-intent-prompt", "prompt", "Prompt for classifying support intents.", 0.0, 0.05),
    DemoArtifact("pretrained-resnet50", "model", "ImageNet-pretrained backbone.", 0.0, 0.05),
    DemoArtifact("sentence-encoder", "model", "General-purpose sentence encoder.", 0.0, 0.06),
    DemoArtifact("event-log-schema", "schema", "Schema of product event logs.", 0.0, 0.08),
    DemoArtifact("forecast-backtesting-notebook", "notebook", "Rolling-origin backtests.", 0.0, 0.07),
    DemoArtifact("data-contract-template", "document", "Template for data contracts with producers.", 0.0, 0.06),
)  # fmt: skip


@dataclass
class DemoMember:
    display_name: str
    role: str
    level: str
    years: float
    hours: float
    performance: float


@dataclass
class DemoProject:
    index: int
    name: str
    spec: str
    problem_class: str
    industry: str
    complexity: int
    status: str
    start_date: date | None
    target_end_date: date | None
    completion_date: date | None
    members: list[DemoMember]
    artifacts: list[tuple[int, int]]  # (catalog index, version index)
    success: float | None
    expected_success: float
    model_performance: float | None
    business_impact: float | None
    compute_cost: float | None
    tags: list[str] = field(default_factory=list)


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def _spec(rng: np.random.Generator, problem_class: str, industry: str) -> tuple[str, str]:
    nouns = specs.INDUSTRIES[industry]
    goal = specs.GOALS[problem_class][int(rng.integers(len(specs.GOALS[problem_class])))].format(**nouns)
    pool = specs.REQUIREMENTS[problem_class]
    chosen = [pool[i] for i in rng.choice(len(pool), size=int(rng.integers(2, 5)), replace=False)]
    constraint = specs.CONSTRAINTS[int(rng.integers(len(specs.CONSTRAINTS)))]
    context = f"The work covers {nouns['items']} from {nouns['source']} at our {nouns['site']} ({industry})."
    text = "\n".join([goal, context, "Requirements:", *(f"- {r}" for r in chosen), f"- {constraint}"])
    title = specs.TITLES[problem_class].format(Industry=industry.title(), **nouns)
    return title[:1].upper() + title[1:], text


def _team(rng: np.random.Generator, complexity: int, planned_days: float) -> list[DemoMember]:
    ideal = 2 + complexity / 20
    size = int(np.clip(round(ideal + rng.normal(0, 2.0)), 1, 10))
    members = []
    for _ in range(size):
        role, level = _pick(rng, ROLE_WEIGHTS), _pick(rng, LEVEL_WEIGHTS)
        low, high = YEARS_RANGE[level]
        name = (
            f"{specs.FIRST_NAMES[int(rng.integers(len(specs.FIRST_NAMES)))]} "
            f"{specs.LAST_NAMES[int(rng.integers(len(specs.LAST_NAMES)))]}"
        )
        members.append(
            DemoMember(
                display_name=name,
                role=role,
                level=level,
                years=round(float(rng.uniform(low, high)), 1),
                hours=round(float(planned_days * rng.uniform(1.0, 5.0)), 1),
                performance=round(float(np.clip(rng.normal(70, 12), 0, 100)), 1),
            )
        )
    return members


def generate(n: int, seed: int, today: date | None = None) -> list[DemoProject]:
    """``n`` demo projects; the same ``seed`` gives the same projects."""
    rng = np.random.default_rng(seed)
    today = today or date.today()
    industries = list(specs.INDUSTRIES)
    classes = list(truth.CLASS_EFFECT)
    class_weights = np.array([1.6, 1.2, 1.2, 1.0, 0.8, 0.9, 0.4])
    out = []
    for i in range(n):
        problem_class = classes[int(rng.choice(len(classes), p=class_weights / class_weights.sum()))]
        industry = industries[int(rng.integers(len(industries)))]
        complexity = int(np.clip(round(rng.normal(50, 20)), 5, 100))
        planned_days = float(round(30 + complexity * rng.uniform(1.5, 3.0)))
        name, spec = _spec(rng, problem_class, industry)
        members = _team(rng, complexity, planned_days)
        artifacts = []
        for a_index, artifact in enumerate(CATALOG):
            if rng.random() < artifact.usage_rate:
                artifacts.append((a_index, int(rng.integers(len(artifact.versions)))))
        facts = truth.team_facts(members)
        effects = [CATALOG[a].effect for a, _ in artifacts]
        expected = truth.expected_success(
            problem_class=problem_class,
            industry=industry,
            complexity=complexity,
            team=facts,
            artifact_effects=effects,
        )
        status = _pick(rng, STATUS_WEIGHTS)
        score = float(np.clip(expected + rng.normal(0.0, truth.NOISE_SD), 0.0, 100.0))
        actual_days = truth.duration_days(
            rng, planned_days=planned_days, complexity=complexity, team=facts, harmful_used=any(e < 0 for e in effects)
        )
        cost = truth.compute_cost(rng, problem_class=problem_class, complexity=complexity, team_size=facts.size)
        start = target_end = completion = None
        success = performance = impact = final_cost = None
        if status == "completed":
            completion = today - timedelta(days=int(rng.integers(1, 900)))
            start = completion - timedelta(days=round(actual_days))
            target_end = start + timedelta(days=round(planned_days))
            success = round(score, 2)
            performance = round(float(np.clip(0.45 + score / 200 + rng.normal(0, 0.03), 0, 1)), 4)
            impact = round(float(np.clip(score + rng.normal(0, 8), 0, 100)), 2)
            final_cost = cost
        elif status == "active":
            start = today - timedelta(days=int(rng.integers(1, max(2, int(planned_days)))))
            target_end = start + timedelta(days=round(planned_days))
        elif status == "planned":
            start = today + timedelta(days=int(rng.integers(7, 90)))
            target_end = start + timedelta(days=round(planned_days))
        else:  # cancelled
            start = today - timedelta(days=int(rng.integers(100, 700)))
            target_end = start + timedelta(days=round(planned_days))
        out.append(
            DemoProject(
                index=i,
                name=name,
                spec=spec,
                problem_class=problem_class,
                industry=industry,
                complexity=complexity,
                status=status,
                start_date=start,
                target_end_date=target_end,
                completion_date=completion,
                members=members,
                artifacts=artifacts,
                success=success,
                expected_success=expected,
                model_performance=performance,
                business_impact=impact,
                compute_cost=final_cost,
                tags=[problem_class, industry.replace(" ", "-")],
            )
        )
    return out


def metric_curve(rng: np.random.Generator, *, final: float, steps: int, lower_is_better: bool) -> np.ndarray:
    """A plausible training curve that ends near ``final`` (exponential approach plus noise)."""
    t = np.arange(steps, dtype=float)
    rate = rng.uniform(3.0, 6.0) / max(steps, 1)
    start = final * (1.8 if lower_is_better else 0.55)
    curve = final + (start - final) * np.exp(-rate * t)
    return curve + rng.normal(0, abs(final) * 0.01 + 1e-4, steps)


def loss_curve(rng: np.random.Generator, *, steps: int) -> np.ndarray:
    t = np.arange(steps, dtype=float)
    floor = rng.uniform(0.05, 0.3)
    return (
        floor
        + (rng.uniform(1.0, 2.5) - floor) * np.exp(-rng.uniform(3.0, 6.0) * t / max(steps, 1))
        + np.abs(rng.normal(0, 0.01, steps))
    )


def import_rows(n: int, seed: int) -> list[dict]:
    """``n`` completed demo projects as rows of the bulk import (``services.importing``; artifacts by name and
    version), for tests and ``bench/projects_import.py``."""
    rows = []
    for p in generate(n * 2 + 20, seed=seed):
        if p.status != "completed":
            continue
        rows.append(
            {
                "name": p.name,
                "spec": p.spec,
                "problem_class": p.problem_class,
                "complexity_score": p.complexity,
                "start_date": p.start_date.isoformat(),
                "target_end_date": p.target_end_date.isoformat(),
                "completion_date": p.completion_date.isoformat(),
                "success_score": p.success,
                "compute_cost": p.compute_cost,
                "tags": p.tags,
                "team_members": [
                    {
                        "display_name": m.display_name,
                        "role": m.role,
                        "experience_level": m.level,
                        "years_experience": m.years,
                        "contribution_hours": m.hours,
                    }
                    for m in p.members
                ],
                "artifact_usages": [
                    {"artifact": CATALOG[a].name, "version": CATALOG[a].versions[v]} for a, v in p.artifacts
                ],
            }
        )
        if len(rows) == n:
            return rows
    raise ValueError(f"fewer than {n} completed demo projects; raise the multiplier")
