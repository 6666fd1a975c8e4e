"""Feature vectors for the success model, built from plain dataclasses.

Features, in column order (``FeatureSpace.names``):

================================  ========================================================================
``team_size``                     number of team members
``role_<role>``                   members per role (ml_engineer, data_scientist, data_engineer, mlops, analyst,
                                  product_manager, domain_expert, other)
``level_<level>``                 members per experience level (junior, mid, senior, staff, principal)
``years_mean``, ``years_max``     mean and maximum years of experience (missing for an empty team)
``hours_total``                   sum of the members' contribution hours
``complexity``                    complexity_score, 1–100
``problem_class``                 problem class (LightGBM categorical feature, integer-coded)
``planned_duration_days``         target_end_date − start_date in days (missing when either date is unknown)
``artifacts_<type>``              artifacts used, counted per artifact type (9 types)
``artifact_<id>``                 1 if the project uses artifact ``id``, for the most-used artifacts of the
                                  tenant (up to ``max_indicator_artifacts``, each used by ≥ ``min_indicator_usage``
                                  training projects)
``delivery_<metric>``             optional delivery metrics from Git/CI integrations (``apps.integrations.features``)
                                  — only in the feature space of a tenant whose training projects have at least one
                                  value of that metric; NaN (missing) for projects without one, so LightGBM treats
                                  them as unknown
``attr_<key>``                    optional tenant-defined project attributes (``projects.ProjectAttribute``): a number,
                                  1/0 for yes/no, or a category (LightGBM categorical, coded by the choice's
                                  position); NaN when a project has no value. Only attributes at least one training
                                  project has a value for.
``neighbor_success``              similarity-weighted success of the nearest completed projects by spec embedding
                                  (``ml.neighbors``; out of fold during training, so a project never sees its own
                                  outcome)
================================  ========================================================================

The feature space (indicator artifacts, delivery columns, names) is saved with each model version
(``FeatureSpace.to_dict``), so a version predicts with exactly the columns it was trained on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

ROLES = (
    "ml_engineer",
    "data_scientist",
    "data_engineer",
    "mlops",
    "analyst",
    "product_manager",
    "domain_expert",
    "other",
)
LEVELS = ("junior", "mid", "senior", "staff", "principal")
PROBLEM_CLASSES = ("classification", "regression", "forecasting", "nlp", "vision", "recommendation", "other")
ARTIFACT_TYPES = (
    "feature_pipeline",
    "model_template",
    "schema",
    "notebook",
    "prompt",
    "dataset",
    "model",
    "pipeline",
    "document",
)

NEIGHBOR_FEATURE = "neighbor_success"
PROBLEM_CLASS_FEATURE = "problem_class"


@dataclass(frozen=True)
class Member:
    role: str
    level: str
    years: float = 0.0
    hours: float = 0.0


@dataclass(frozen=True)
class ProjectInput:
    """What the model knows about a project before it starts."""

    problem_class: str
    complexity: float
    planned_duration_days: float | None = None
    members: tuple[Member, ...] = ()
    artifacts: tuple[tuple[int, str], ...] = ()  # (artifact id, artifact type)
    delivery: tuple[tuple[str, float], ...] = ()  # (delivery feature name, value), known values only
    attributes: tuple[tuple[str, object], ...] = ()  # (attribute key, value): tenant-defined attributes

    def with_artifact(self, artifact_id: int, artifact_type: str) -> ProjectInput:
        return replace(self, artifacts=(*self.artifacts, (artifact_id, artifact_type)))

    def with_members(self, members: Sequence[Member]) -> ProjectInput:
        return replace(self, members=tuple(members))


@dataclass
class FeatureSpace:
    """The columns of one model: fixed vocabularies plus the indicator artifacts and delivery features chosen at
    training time."""

    indicator_artifacts: tuple[int, ...] = ()
    delivery_features: tuple[str, ...] = ()
    attributes: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (key, kind, choices)
    roles: tuple[str, ...] = ROLES
    levels: tuple[str, ...] = LEVELS
    problem_classes: tuple[str, ...] = PROBLEM_CLASSES
    artifact_types: tuple[str, ...] = ARTIFACT_TYPES
    names: list[str] = field(init=False)

    def __post_init__(self):
        self.indicator_artifacts = tuple(int(a) for a in self.indicator_artifacts)
        self.delivery_features = tuple(str(name) for name in self.delivery_features)
        self.attributes = tuple((str(k), str(kind), tuple(choices)) for k, kind, choices in self.attributes)
        self.names = [
            "team_size",
            *(f"role_{r}" for r in self.roles),
            *(f"level_{lv}" for lv in self.levels),
            "years_mean",
            "years_max",
            "hours_total",
            "complexity",
            PROBLEM_CLASS_FEATURE,
            "planned_duration_days",
            *(f"artifacts_{t}" for t in self.artifact_types),
            *(f"artifact_{a}" for a in self.indicator_artifacts),
            *self.delivery_features,
            *(f"attr_{key}" for key, _kind, _choices in self.attributes),
            NEIGHBOR_FEATURE,
        ]
        self._col = {name: i for i, name in enumerate(self.names)}
        self._role_col = {r: self._col[f"role_{r}"] for r in self.roles}
        self._level_col = {lv: self._col[f"level_{lv}"] for lv in self.levels}
        self._type_col = {t: self._col[f"artifacts_{t}"] for t in self.artifact_types}
        self._indicator_col = {a: self._col[f"artifact_{a}"] for a in self.indicator_artifacts}
        self._delivery_col = {name: self._col[name] for name in self.delivery_features}
        self._attr = {key: (self._col[f"attr_{key}"], kind, choices) for key, kind, choices in self.attributes}
        self._class_code = {c: i for i, c in enumerate(self.problem_classes)}

    @classmethod
    def fit(
        cls,
        inputs: Sequence[ProjectInput],
        *,
        max_indicator_artifacts: int = 40,
        min_indicator_usage: int = 5,
        delivery_names: Sequence[str] = (),
        attribute_defs: Sequence[tuple[str, str, tuple[str, ...]]] = (),
    ) -> FeatureSpace:
        """Choose the indicator artifacts (the most used ones in the training projects, ties by id) and the delivery
        columns: those of ``delivery_names`` (in that order) that at least one training project has a value for —
        none when no project has delivery data, so the space is then exactly the one without integrations."""
        counts = Counter(a for p in inputs for a in {aid for aid, _ in p.artifacts})
        ranked = sorted((a for a, c in counts.items() if c >= min_indicator_usage), key=lambda a: (-counts[a], a))
        seen = {name for p in inputs for name, _ in p.delivery}
        valued = {key for p in inputs for key, _ in p.attributes}
        return cls(
            indicator_artifacts=tuple(ranked[:max_indicator_artifacts]),
            delivery_features=tuple(name for name in delivery_names if name in seen),
            attributes=tuple(d for d in attribute_defs if d[0] in valued),
        )

    @property
    def n_features(self) -> int:
        return len(self.names)

    def col(self, name: str) -> int:
        return self._col[name]

    @property
    def neighbor_col(self) -> int:
        return self._col[NEIGHBOR_FEATURE]

    @property
    def categorical_cols(self) -> list[int]:
        return [self._col[PROBLEM_CLASS_FEATURE]] + [col for col, kind, _ in self._attr.values() if kind == "category"]

    def class_code(self, problem_class: str) -> int:
        return self._class_code.get(problem_class, self._class_code.get("other", 0))

    def indicator_col(self, artifact_id: int) -> int | None:
        return self._indicator_col.get(int(artifact_id))

    def type_col(self, artifact_type: str) -> int | None:
        return self._type_col.get(artifact_type)

    def fill_team(self, row: np.ndarray, members: Sequence[Member]) -> None:
        """Write the team columns of one row in place (used by the team search for many candidates)."""
        row[self._col["team_size"]] = len(members)
        for col in self._role_col.values():
            row[col] = 0.0
        for col in self._level_col.values():
            row[col] = 0.0
        for m in members:
            col = self._role_col.get(m.role)
            if col is None:
                col = self._role_col["other"]
            row[col] += 1
            if m.level in self._level_col:
                row[self._level_col[m.level]] += 1
        if members:
            years = [m.years for m in members]
            row[self._col["years_mean"]] = float(np.mean(years))
            row[self._col["years_max"]] = float(np.max(years))
        else:
            row[self._col["years_mean"]] = np.nan
            row[self._col["years_max"]] = np.nan
        row[self._col["hours_total"]] = float(sum(m.hours for m in members))

    def row(self, project: ProjectInput, neighbor_success: float = np.nan) -> np.ndarray:
        row = np.zeros(self.n_features, dtype=np.float64)
        self.fill_team(row, project.members)
        row[self._col["complexity"]] = float(project.complexity)
        row[self._col[PROBLEM_CLASS_FEATURE]] = float(self.class_code(project.problem_class))
        row[self._col["planned_duration_days"]] = (
            np.nan if project.planned_duration_days is None else float(project.planned_duration_days)
        )
        for artifact_id in {aid for aid, _ in project.artifacts}:
            col = self._indicator_col.get(artifact_id)
            if col is not None:
                row[col] = 1.0
        for _aid, artifact_type in dict(project.artifacts).items():
            col = self._type_col.get(artifact_type)
            if col is not None:
                row[col] += 1.0
        for col in self._delivery_col.values():
            row[col] = np.nan
        for name, value in project.delivery:
            col = self._delivery_col.get(name)
            if col is not None:
                row[col] = float(value)
        for col, _kind, _choices in self._attr.values():
            row[col] = np.nan
        for key, value in project.attributes:
            found = self._attr.get(key)
            if found is not None:
                row[found[0]] = _attribute_value(value, found[1], found[2])
        row[self.neighbor_col] = neighbor_success
        return row

    def matrix(self, projects: Sequence[ProjectInput], neighbor_success: np.ndarray | None = None) -> np.ndarray:
        out = np.zeros((len(projects), self.n_features), dtype=np.float64)
        for i, project in enumerate(projects):
            out[i] = self.row(project, np.nan if neighbor_success is None else float(neighbor_success[i]))
        return out

    def to_dict(self) -> dict:
        return {
            "indicator_artifacts": list(self.indicator_artifacts),
            "delivery_features": list(self.delivery_features),
            "attributes": [[key, kind, list(choices)] for key, kind, choices in self.attributes],
            "names": list(self.names),
        }

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSpace:
        """The saved space (versions trained before delivery features existed have no ``delivery_features``)."""
        space = cls(
            indicator_artifacts=tuple(data["indicator_artifacts"]),
            delivery_features=tuple(data.get("delivery_features", ())),
            attributes=tuple((k, kind, tuple(c)) for k, kind, c in data.get("attributes", ())),
        )
        if space.names != data["names"]:
            raise ValueError("stored feature names do not match this code's feature layout")
        return space


def _attribute_value(value, kind: str, choices: tuple[str, ...]) -> float:
    """A stored attribute value as a feature: the number, 1/0, or the category's position (NaN if unknown)."""
    if value is None:
        return np.nan
    if kind == "boolean":
        return 1.0 if value else 0.0
    if kind == "category":
        return float(choices.index(value)) if value in choices else np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return np.nan
