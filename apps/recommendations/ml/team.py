"""Team-composition search: which mix of roles and levels, of which size, the model predicts to succeed most.

A team is a vector of counts over the allowed (role, level) types. A suggested member of a level is a *typical*
member: the training data's median years of experience for that level and the median contribution hours per
member, so the search varies composition, not invented people.

Search: beam search by team size (start empty; at each size add one member of every allowed type to each of the
``beam_width`` = 3 best teams of the previous size; score all candidates in one LightGBM call), then hill climbing on
the best team found (add / remove / swap one member) until no move improves the prediction, at most four rounds (on
the demo data this found the same teams as width 4 and eight rounds, at ~60 % of the cost). When the proposed team
satisfies the constraints and scores higher than that result, hill climbing also starts from it, so the suggestion is
never predicted to be worse than the proposed composition. Constraints: minimum and maximum size, allowed roles and
levels, per-role / per-level maximum counts, and per-role minimum counts (roles the team must include: a lead knows
a churn classifier needs a data scientist even where the model, which learned only from past compositions, would
trade one for a larger team). Required roles are part of the search's starting teams (all at one level per start,
one start per allowed level; swaps then mix levels), so every team the beam grows satisfies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from apps.recommendations.ml.features import LEVELS, ROLES, FeatureSpace, Member

DEFAULT_YEARS = {"junior": 1.0, "mid": 4.0, "senior": 8.0, "staff": 12.0, "principal": 16.0}


def _unique_rows(counts: np.ndarray) -> np.ndarray:
    """Distinct rows in first-seen order. (A dict over the rows' bytes: several times faster than
    ``np.unique(axis=0)`` for the few hundred small-integer rows a search step produces.)"""
    first: dict[bytes, int] = {}
    for i, row in enumerate(counts.astype(np.uint8)):
        first.setdefault(row.tobytes(), i)
    return counts[list(first.values())]


@dataclass(frozen=True)
class TeamConstraints:
    min_size: int = 1
    max_size: int = 8
    roles: tuple[str, ...] = ROLES
    levels: tuple[str, ...] = LEVELS
    max_per_role: dict[str, int] = field(default_factory=dict)
    max_per_level: dict[str, int] = field(default_factory=dict)
    min_per_role: dict[str, int] = field(default_factory=dict)


@dataclass
class TeamResult:
    members: list[tuple[str, str, int]]  # (role, level, count)
    size: int
    predicted_success: float
    evaluated: int
    row: np.ndarray | None = None  # the suggested team's feature row (for its interval)


class TeamSearch:
    def __init__(
        self,
        space: FeatureSpace,
        base_row: np.ndarray,
        score: Callable[[np.ndarray], np.ndarray],
        constraints: TeamConstraints,
        years_by_level: dict[str, float | None],
        member_hours: float,
    ):
        self.space = space
        self.base_row = base_row
        self.score = score
        self.c = constraints
        self.types = [(r, lv) for r in constraints.roles for lv in constraints.levels]
        t = len(self.types)
        self.role_of = np.zeros((t, len(space.roles)))
        self.level_of = np.zeros((t, len(space.levels)))
        self.years = np.zeros(t)
        for i, (role, level) in enumerate(self.types):
            self.role_of[i, space.roles.index(role)] = 1
            self.level_of[i, space.levels.index(level)] = 1
            known = years_by_level.get(level)
            self.years[i] = DEFAULT_YEARS[level] if known is None else known
        self.member_hours = float(member_hours)
        self.role_cols = [space.col(f"role_{r}") for r in space.roles]
        self.level_cols = [space.col(f"level_{lv}") for lv in space.levels]
        self.role_caps = np.array([constraints.max_per_role.get(r, np.inf) for r in space.roles])
        self.level_caps = np.array([constraints.max_per_level.get(lv, np.inf) for lv in space.levels])
        self.role_floors = np.array([constraints.min_per_role.get(r, 0) for r in space.roles])
        self.evaluated = 0

    def typical_member(self, role: str, level: str) -> Member:
        return Member(role, level, float(self.years[self.types.index((role, level))]), self.member_hours)

    def counts_of(self, members: list[Member]) -> np.ndarray | None:
        """Count vector of a concrete team, or None when it uses a type outside the constraints."""
        counts = np.zeros(len(self.types))
        for m in members:
            if (m.role, m.level) not in self.types:
                return None
            counts[self.types.index((m.role, m.level))] += 1
        return counts

    def feasible(self, counts: np.ndarray) -> np.ndarray:
        size = counts.sum(axis=1)
        ok = (size <= self.c.max_size) & (counts >= 0).all(axis=1)
        ok &= ((counts @ self.role_of) <= self.role_caps).all(axis=1)
        ok &= ((counts @ self.level_of) <= self.level_caps).all(axis=1)
        ok &= ((counts @ self.role_of) >= self.role_floors).all(axis=1)
        return ok

    def _starts(self) -> np.ndarray:
        """Teams the beam grows from: empty, or the required roles filled at one level per start."""
        t = len(self.types)
        required = {role: n for role, n in self.c.min_per_role.items() if n > 0}
        if not required:
            return np.zeros((1, t))
        starts = []
        for level in self.c.levels:
            counts = np.zeros(t)
            for role, n in required.items():
                if (role, level) not in self.types:
                    break
                counts[self.types.index((role, level))] = n
            else:
                starts.append(counts)
        if not starts:
            raise ValueError("no team satisfies the constraints")
        return np.array(starts)

    def rows(self, counts: np.ndarray) -> np.ndarray:
        X = np.repeat(self.base_row[None, :], len(counts), axis=0)
        size = counts.sum(axis=1)
        X[:, self.space.col("team_size")] = size
        X[:, self.role_cols] = counts @ self.role_of
        X[:, self.level_cols] = counts @ self.level_of
        with np.errstate(invalid="ignore", divide="ignore"):
            X[:, self.space.col("years_mean")] = np.where(size > 0, (counts @ self.years) / np.maximum(size, 1), np.nan)
        X[:, self.space.col("years_max")] = np.where(
            size > 0, np.where(counts > 0, self.years[None, :], -np.inf).max(axis=1), np.nan
        )
        X[:, self.space.col("hours_total")] = size * self.member_hours
        return X

    def _score(self, counts: np.ndarray) -> np.ndarray:
        self.evaluated += len(counts)
        return self.score(self.rows(counts))

    def _moves(self, counts: np.ndarray) -> np.ndarray:
        t = len(self.types)
        eye = np.eye(t)
        moves = [counts + eye]
        present = np.flatnonzero(counts > 0)
        if counts.sum() > self.c.min_size:
            moves.append(counts - eye[present])
        if len(present):
            swaps = (counts - eye[present])[:, None, :] + eye[None, :, :]
            moves.append(swaps.reshape(-1, t))
        cand = _unique_rows(np.vstack(moves))
        cand = cand[self.feasible(cand) & (cand.sum(axis=1) >= self.c.min_size)]
        return cand[~(cand == counts).all(axis=1)]

    def _climb(self, counts: np.ndarray, score: float, max_iter: int = 4) -> tuple[np.ndarray, float]:
        for _ in range(max_iter):
            cand = self._moves(counts)
            if len(cand) == 0:
                break
            scores = self._score(cand)
            best = int(np.argmax(scores))
            if scores[best] <= score + 1e-9:
                break
            counts, score = cand[best], float(scores[best])
        return counts, score

    def run(self, proposed: list[Member] | None = None, beam_width: int = 3) -> TeamResult:
        t = len(self.types)
        eye = np.eye(t)
        states = self._starts()
        best_counts, best_score = None, -np.inf
        start_size = int(states[0].sum())
        if start_size > self.c.max_size:
            raise ValueError("no team satisfies the constraints")
        if start_size >= max(self.c.min_size, 1):
            scores = self._score(states)
            best = int(np.argmax(scores))
            best_counts, best_score = states[best], float(scores[best])
        for size in range(start_size + 1, self.c.max_size + 1):
            cand = _unique_rows((states[:, None, :] + eye[None, :, :]).reshape(-1, t))
            cand = cand[self.feasible(cand)]
            if len(cand) == 0:
                break
            scores = self._score(cand)
            order = np.argsort(-scores, kind="stable")[:beam_width]
            states = cand[order]
            if size >= self.c.min_size and scores[order[0]] > best_score:
                best_counts, best_score = cand[order[0]], float(scores[order[0]])
        if best_counts is None:
            raise ValueError("no team satisfies the constraints")
        counts, score = self._climb(best_counts, best_score)
        proposed_counts = self.counts_of(proposed) if proposed else None
        if (
            proposed_counts is not None
            and self.c.min_size <= proposed_counts.sum() <= self.c.max_size
            and self.feasible(proposed_counts[None, :])[0]
        ):
            proposed_score = float(self._score(proposed_counts[None, :])[0])
            if proposed_score > score:  # only then can climbing from the proposal end higher
                counts, score = max([(counts, score), self._climb(proposed_counts, proposed_score)], key=lambda r: r[1])
        members = [(*self.types[i], int(counts[i])) for i in np.flatnonzero(counts)]
        return TeamResult(
            members=members,
            size=int(counts.sum()),
            predicted_success=score,
            evaluated=self.evaluated,
            row=self.rows(counts[None, :])[0],
        )
