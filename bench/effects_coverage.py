"""Coverage of the artifact-effect intervals (``apps/recommendations/ml/effects.py``) on repeated synthetic datasets
with confounded artifact use and known effects (``apps/recommendations/demo/confounded.py``), next to the method
used before (mean SHAP contribution over the using projects with a bootstrap interval, and the unadjusted lift
within problem class).

    .venv/bin/python bench/effects_coverage.py [--repetitions 300] [--n 400] [--effect 3]

Target: the 95 % intervals cover the true effect 85–100 % of the time (nominal ± 10 points). The CI test
(``tests/recommendations/test_effects.py``) runs 40 repetitions with 50 boosting rounds; this is the full strength
(the success model's default settings).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import lightgbm as lgb
import numpy as np

from apps.recommendations.demo.confounded import ARTIFACTS, HELPFUL, NULL, generate
from apps.recommendations.ml import effects as fx
from apps.recommendations.ml.features import FeatureSpace
from apps.recommendations.ml.impact import Usage, artifact_impact
from apps.recommendations.ml.training import TrainingConfig, outcome_fitter


def one(seed: int, n: int, effect: float, cfg: TrainingConfig) -> dict:
    inputs, y = generate(np.random.default_rng(seed), n=n, help_effect=effect)
    space = FeatureSpace.fit(inputs, min_indicator_usage=5)
    X = space.matrix(inputs)
    treatments = [
        fx.Treatment(aid, np.array([any(a == aid for a, _ in p.artifacts) for p in inputs]), space.indicator_col(aid),
                     space.type_col(atype))
        for aid, atype in ARTIFACTS
    ]  # fmt: skip
    new = {e.artifact_id: e for e in fx.estimate_effects(
        X, y, treatments, fit_outcome=outcome_fitter(space, cfg), categorical=space.categorical_cols, seed=seed
    )}  # fmt: skip
    data = lgb.Dataset(X, label=y, feature_name=space.names, categorical_feature=space.categorical_cols,
                       params={"max_bin": 63, "verbose": -1})  # fmt: skip
    booster = lgb.train(cfg.lgb_params(n), data, num_boost_round=cfg.num_boost_round)
    contribs = booster.predict(X, pred_contrib=True, num_threads=1)[:, :-1]
    usage = Usage.of(inputs)
    old = {
        aid: artifact_impact(space=space, inputs=inputs, contribs=contribs, success=y, artifact_id=aid,
                             artifact_type=atype, min_usage=5, usage=usage)
        for aid, atype in ARTIFACTS
    }  # fmt: skip
    return {"new": new, "old": old, "truth": {NULL: 0.0, HELPFUL: effect}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repetitions", type=int, default=300)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--effect", type=float, default=3.0)
    args = parser.parse_args()
    cfg = TrainingConfig()
    started = time.perf_counter()
    results = [one(10_000 + r, args.n, args.effect, cfg) for r in range(args.repetitions)]
    print(f"command: python bench/effects_coverage.py --repetitions {args.repetitions} --n {args.n} "
          f"--effect {args.effect}")  # fmt: skip
    print(f"{args.repetitions} datasets of {args.n} projects in {time.perf_counter() - started:.0f} s\n")
    print("| method | artifact (true effect) | 95 % interval covers the truth | mean estimate | mean width | "
          "says clear effect |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for aid, name in ((NULL, "null (0)"), (HELPFUL, f"helpful ({args.effect:g})")):
        truth = results[0]["truth"][aid]
        new = [r["new"][aid] for r in results]
        cover = np.mean([e.ci_low <= truth <= e.ci_high for e in new])
        clear = np.mean([e.verdict != "no clear effect" for e in new])
        print(f"| adjusted (DML) | {name} | {cover:.1%} | {np.mean([e.estimate for e in new]):.2f} | "
              f"{np.mean([e.ci_high - e.ci_low for e in new]):.2f} | {clear:.1%} |")  # fmt: skip
        old = [r["old"][aid] for r in results]
        cover = np.mean([o.ci_low <= truth <= o.ci_high for o in old])
        clear = np.mean([not (o.ci_low <= 0 <= o.ci_high) for o in old])
        print(f"| before: mean SHAP, bootstrap | {name} | {cover:.1%} | {np.mean([o.impact for o in old]):.2f} | "
              f"{np.mean([o.ci_high - o.ci_low for o in old]):.2f} | {clear:.1%} |")  # fmt: skip
        cover = np.mean([o.lift_ci_low <= truth <= o.lift_ci_high for o in old])
        clear = np.mean([not (o.lift_ci_low <= 0 <= o.lift_ci_high) for o in old])
        print(f"| before: lift within class | {name} | {cover:.1%} | {np.mean([o.observed_lift for o in old]):.2f} | "
              f"{np.mean([o.lift_ci_high - o.lift_ci_low for o in old]):.2f} | {clear:.1%} |")  # fmt: skip


if __name__ == "__main__":
    main()
