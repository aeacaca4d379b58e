"""Benchmark: in-process scoring of one patient, ONNX path vs native path, same run.

Both paths do the same work: validate the JSON record, encode it, compute the risk at 6/12/24
months, the risk group and the per-predictor contributions. They differ only in inference:
ONNX Runtime on the exported graph vs the fitted scikit-survival / XGBoost model.
Target: ONNX p50 <= 100 us and >= 10x faster than native.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
import pandas as pd

from features.encode import encode_record, feature_names
from features.validate import check_record
from model_registry.registry import Registry
from model_registry.scoring import ScoringModel
from training.cohort import synthetic_cohort
from training.train import candidate_models, fit_landmark, train_version

PATIENT = {
    "patient_id": "BENCH-1",
    "age_years": 63,
    "ecog": 1,
    "stage": 4,
    "extranodal_sites": 2,
    "ldh_u_l": 420,
    "ldh_uln_u_l": 250,
    "tmtv_ml": 95.0,
    "tp53_status": "altered",
    "prior_lines": 3,
    "bridging_therapy": "chemotherapy",
}


def timings(fn, repeat: int) -> np.ndarray:
    for _ in range(50):
        fn()
    out = np.empty(repeat)
    for i in range(repeat):
        start = time.perf_counter_ns()
        fn()
        out[i] = time.perf_counter_ns() - start
    return out / 1000.0


def native_path(model, landmark):
    names = feature_names(landmark)

    def run():
        typed = check_record(PATIENT)
        X = pd.DataFrame([encode_record(typed, landmark)], columns=names)
        risk = model.predict_risk(X)[0]
        contributions = model.contributions(X)[0]
        return risk, contributions

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000, help="training cohort size")
    parser.add_argument("--repeat", type=int, default=3000)
    args = parser.parse_args()
    cohort = synthetic_cohort(args.n, 5)
    print(f"single-patient scoring, infusion landmark, {args.repeat} calls each (microseconds)")
    print(f"{'family':10} {'path':7} {'p50':>8} {'p99':>8}   native/onnx p50")
    for family in ("cox_ridge", "xgb_cox"):
        fits = {
            lm: fit_landmark(cohort, lm, 0, families={family: candidate_models(0)[family]})
            for lm in ("infusion", "day28")
        }
        with tempfile.TemporaryDirectory() as tmp:
            registry = Registry(tmp)
            version, _ = train_version(cohort, registry, landmark_fits=fits)
            scoring = ScoringModel(registry.load(version))

        def served(scoring=scoring):
            return scoring.score_record(check_record(PATIENT), "infusion")

        onnx = timings(served, args.repeat)
        native = timings(native_path(fits["infusion"].models[family], "infusion"), args.repeat)
        ratio = np.median(native) / np.median(onnx)
        print(f"{family:10} {'onnx':7} {np.median(onnx):8.1f} {np.percentile(onnx, 99):8.1f}")
        print(
            f"{family:10} {'native':7} {np.median(native):8.1f} "
            f"{np.percentile(native, 99):8.1f}   {ratio:.1f}x"
        )


if __name__ == "__main__":
    main()
