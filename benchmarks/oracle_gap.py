"""Where the models fall short of the oracle: the two-cause families trained and judged with
every predictor recorded, and with the registry's missingness (the generator's default).

With complete data the gap to the oracle is what the models' form misses; with missing
values the full oracle still sees the blanked values, so the bound a model can reach is the
attainable oracle (`synthetic.oracle.AttainableOracle`: the oracle's risk given what was
observed). Prints, per data set, landmark and family: the 12-month time-dependent AUC and
Brier score of the model, the attainable oracle and the full oracle (the criteria the oracle
bounds), Harrell's C of the 12-month risk (shown, not a ceiling), the mean absolute error of
the 12-month risk against the full and the attainable oracle, and of NRM; then, with complete
data, the attainable oracle's own distance to the full one (its approximation error), and
the largest gap of mean predicted to true 12-month NRM over deciles of predicted risk.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from features.encode import encode
from synthetic.oracle import AttainableOracle, oracle_risks
from training.cohort import landmark_mask
from training.evaluation.evaluate import evaluation_cohort, oracle_comparison
from training.outcome import RELAPSE_FAMILIES, TwoCauseModel, relapse_family


def _nrm_by_decile(model, X, truth) -> float:
    causes = model.predict_causes(X)
    risk, nrm = causes["risk"][:, 1], causes["nrm"][:, 1]
    decile = np.digitize(risk, np.quantile(risk, np.linspace(0.1, 0.9, 9)))
    true = truth["nrm_12m"].to_numpy()
    return max(abs(float((nrm[decile == d] - true[decile == d]).mean())) for d in range(10))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=30_000)
    parser.add_argument("--test", type=int, default=20_000)
    parser.add_argument(
        "--attainable-n",
        type=int,
        default=100_000,
        help="simulated patients the attainable oracle is fitted on",
    )
    parser.add_argument("--families", default=",".join(RELAPSE_FAMILIES))
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    print(
        f"{'data':9} {'landmark':9} {'family':10} {'AUC m/att/or':>20} "
        f"{'Brier m/att/or':>22} {'C m':>6} {'MAE or':>7} {'MAE att':>7} {'NRM dec':>7}"
    )
    for missing in (False, True):
        train, test = (
            evaluation_cohort(n, seed, latent=True, missing=missing)
            for n, seed in ((args.train, 41), (args.test, 42))
        )
        for lm in ("infusion", "day28"):
            part = train.loc[landmark_mask(train, lm)]
            X, t, e = encode(part, lm), part["pfs_months"].to_numpy(), part["pfs_event"].to_numpy()
            held_out = test.loc[landmark_mask(test, lm)]
            Xh = encode(held_out, lm)
            truth = oracle_risks(held_out, lm)
            bound = AttainableOracle(lm, n=args.attainable_n, missing=missing).fit().risks(Xh)
            label = "missing" if missing else "complete"
            for name in args.families.split(","):
                model = TwoCauseModel.fit(
                    relapse_family(name), X, t, e, part["pfs_event_type"].to_numpy(object)
                )
                r = oracle_comparison(model, held_out, lm, truth=truth, attainable=bound)
                m, a, o = r["model"], r["attainable"], r["oracle"]
                print(
                    f"{label:9} {lm:9} {name:10} "
                    f"{m['auc_12m']:6.4f}/{a['auc_12m']:6.4f}/{o['auc_12m']:6.4f} "
                    f"{m['brier_12m']:6.4f}/{a['brier_12m']:6.4f}/{o['brier_12m']:6.4f} "
                    f"{m['harrell_c_12m']:6.3f} {m['mae_risk_12m']:7.4f} "
                    f"{m['mae_attainable_12m']:7.4f} {_nrm_by_decile(model, Xh, truth):7.4f}",
                    flush=True,
                )
            if not missing:
                print(
                    f"{label:9} {lm:9} attainable oracle vs full oracle on complete data "
                    f"(its approximation error): MAE {a['mae_to_oracle_12m']:.4f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
