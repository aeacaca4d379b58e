"""The oracle: each synthetic patient's true risks of relapse and of non-relapse death.

The generator knows how outcomes arise, so for every patient it can give the probability of
progression/relapse and of death without progression by 6, 12 and 24 months, with everything
that happens after the landmark marginalised exactly (by quadrature, not simulation):

- **What the oracle sees** (columns `simulate` writes): the true values of every baseline
  predictor before registry blanking (through the risk score `_risk`, `_tp53_altered` and the
  non-relapse mortality hazard ratio `_nrm_log_hr` of age and ECOG); at day 28 also the CAR-T
  peak (`_z_cmax`), the true ctDNA result (`_ctdna_detectable`, even where the registry
  blanked it) and the fact that the patient is alive and progression-free.
- **What it marginalises**: the response draw (CR/PR/SD/PD), whether a responder is cured,
  the time to progression and the time to non-relapse death; at infusion also the CAR-T peak
  (Gauss-Hermite quadrature over its normal law). At day 28 these are weighted by their
  posterior given ctDNA and survival to day 28.

No model of the observed (and partly missing) predictors can do better than the oracle in
expectation: its C-index and Brier score are the ceiling, and a model's mean absolute error
against its risks measures what the model misses.

Numerical error: the cumulative incidences integrate piecewise-constant hazards on a grid of
`STEP_MONTHS`; halving the step moves them by less than 1e-5 (tested).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from features.schema import HORIZONS_MONTHS, INFUSION, LANDMARKS, PFS_MONTHS, require_landmark
from synthetic.generator import DAY28_MONTHS, GeneratorParams, load_params, nrm_cumulative_hazard

STEP_MONTHS = 0.02
QUADRATURE_NODES = 40
LATENT_COLUMNS = ("_risk", "_tp53_altered", "_nrm_log_hr", "_z_cmax", "_ctdna_detectable")
_GROUPS = ("CR", "PR", "SD", "PD")


def _grid(step: float) -> np.ndarray:
    """Months from 0 to the last horizon, with day 28 and every horizon on the grid."""
    points = [np.linspace(0.0, DAY28_MONTHS, max(2, int(np.ceil(DAY28_MONTHS / step)) + 1))]
    edges = (DAY28_MONTHS, *HORIZONS_MONTHS)
    for lo, hi in zip(edges[:-1], edges[1:]):
        points.append(np.linspace(lo, hi, int(np.ceil((hi - lo) / step)) + 1)[1:])
    return np.concatenate(points)


def _response_probabilities(m: np.ndarray, p: GeneratorParams) -> np.ndarray:
    """P(CR), P(PR), P(SD), P(PD) given the response score's mean m (logistic noise)."""
    at_least = [
        special.expit(m - p.value("cr_threshold")),
        special.expit(m - p.value("or_threshold")),
        special.expit(m - p.value("or_threshold") + p.value("sd_width")),
    ]
    return np.stack(
        [at_least[0], at_least[1] - at_least[0], at_least[2] - at_least[1], 1 - at_least[2]],
        axis=-1,
    )


def _group_incidences(
    risk: np.ndarray, nrm_lhr: np.ndarray, grid: np.ndarray, p: GeneratorParams
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per response group (and for the cured): cumulative incidences of progression and of
    non-relapse death at every grid point, and progression-free survival.

    Returns arrays of shape (n, 5, len(grid)); component 4 is "cured" (no progression).
    """
    v = p.value
    scale = v("time_scale")
    group_scale = np.array([v("cr_scale"), v("pr_scale"), v("sd_scale"), v("pd_scale"), np.inf])
    group_shape = np.array([v("cr_shape"), v("pr_shape"), v("sd_shape"), v("pd_shape"), 1.0])
    base = (grid[None, :] / (scale * group_scale[:, None])) ** group_shape[:, None]  # (5, G)
    h_prog = np.exp(risk)[:, None, None] * base[None]  # (n, 5, G)
    h_nrm = np.exp(nrm_lhr)[:, None, None] * nrm_cumulative_hazard(grid, p)[None, None, :]
    total = h_prog + h_nrm
    survival = np.exp(-total)
    d_prog, d_nrm = np.diff(h_prog, axis=-1), np.diff(h_nrm, axis=-1)
    d_total = d_prog + d_nrm
    # Within a step both hazards are constant: the step's events split in their proportion.
    events = survival[..., :-1] * -np.expm1(-d_total)
    share = np.divide(d_prog, d_total, out=np.zeros_like(d_total), where=d_total > 0)
    zeros = np.zeros(survival.shape[:-1] + (1,))
    relapse = np.concatenate([zeros, np.cumsum(events * share, axis=-1)], axis=-1)
    nrm = np.concatenate([zeros, np.cumsum(events * (1 - share), axis=-1)], axis=-1)
    return relapse, nrm, survival


def _component_weights(risk, tp53, z_cmax, p: GeneratorParams) -> np.ndarray:
    """Prior probability of each component (CR, PR, SD, PD not cured, cured), shape (n, 5),
    given the CAR-T peak's standard-normal score z_cmax, shape (n,) or (n, q)."""
    v = p.value
    mean = (
        -risk[:, None]
        + v("response_cmax") * np.atleast_2d(z_cmax.T).T
        - v("response_tp53") * tp53[:, None]
    )
    groups = _response_probabilities(mean, p)  # (n, q, 4)
    cure_logit = v("cure_logit") - v("cure_risk") * risk
    cure = np.stack(
        [special.expit(cure_logit), special.expit(cure_logit - v("cure_pr_penalty"))], axis=-1
    )[:, None, :]
    not_cured = groups.copy()
    not_cured[..., :2] *= 1 - cure
    cured = (groups[..., :2] * cure).sum(axis=-1, keepdims=True)
    return np.concatenate([not_cured, cured], axis=-1)


def _ctdna_likelihood(detectable: np.ndarray, p: GeneratorParams) -> np.ndarray:
    """P(observed ctDNA | component), shape (n, 5)."""
    v = p.value
    logits = v("ctdna_logit") + np.array(
        [
            v("ctdna_relapsing"),
            v("ctdna_relapsing"),
            v("ctdna_non_responder"),
            v("ctdna_non_responder"),
            0.0,
        ]
    )
    prob = special.expit(logits)[None, :]
    return np.where(detectable[:, None], prob, 1 - prob)


def oracle_risks(
    frame: pd.DataFrame,
    landmark: str,
    params: GeneratorParams | None = None,
    *,
    step: float = STEP_MONTHS,
    chunk: int = 2000,
) -> pd.DataFrame:
    """True cumulative incidences at 6/12/24 months for rows of `simulate`'s output.

    Parameters
    ----------
    frame : DataFrame
        Rows of `synthetic.generator.simulate` (they carry the latent columns).
    landmark : {"infusion", "day28"}
        "day28" conditions on being alive and progression-free at day 28 (the day-28 model's
        population) and on the CAR-T peak and the true ctDNA result.
    params : GeneratorParams, optional
        The parameters the cohort was simulated with (default: the shipped ones).

    Returns
    -------
    DataFrame
        Index of `frame`; relapse_6m/12m/24m, nrm_6m/12m/24m and risk_6m/12m/24m
        (= relapse + nrm).
    """
    missing = [c for c in LATENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"the oracle needs the generator's latent columns; missing {missing}")
    require_landmark(landmark, LANDMARKS)
    p = params if params is not None else load_params()
    grid = _grid(step)
    at = np.searchsorted(grid, HORIZONS_MONTHS)
    d28 = int(np.searchsorted(grid, DAY28_MONTHS))
    nodes, node_weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    node_weights = node_weights / node_weights.sum()
    parts = []
    for start in range(0, len(frame), chunk):
        rows = frame.iloc[start : start + chunk]
        risk = rows["_risk"].to_numpy(float)
        tp53 = rows["_tp53_altered"].to_numpy(bool).astype(float)
        relapse, nrm, survival = _group_incidences(
            risk, rows["_nrm_log_hr"].to_numpy(float), grid, p
        )
        if landmark == INFUSION:
            z = np.broadcast_to(nodes, (len(rows), QUADRATURE_NODES))
            weights = (_component_weights(risk, tp53, z, p) * node_weights[None, :, None]).sum(
                axis=1
            )
            rel = np.einsum("nc,nch->nh", weights, relapse[..., at])
            dead = np.einsum("nc,nch->nh", weights, nrm[..., at])
        else:
            prior = _component_weights(risk, tp53, rows["_z_cmax"].to_numpy(float), p)[:, 0]
            joint = prior * _ctdna_likelihood(rows["_ctdna_detectable"].to_numpy(bool), p)
            alive = np.einsum("nc,nc->n", joint, survival[..., d28])
            rel = (
                np.einsum("nc,nch->nh", joint, relapse[..., at] - relapse[..., d28, None])
                / alive[:, None]
            )
            dead = (
                np.einsum("nc,nch->nh", joint, nrm[..., at] - nrm[..., d28, None]) / alive[:, None]
            )
        parts.append(
            pd.DataFrame(
                np.column_stack([rel, dead, rel + dead]),
                index=rows.index,
                columns=[
                    f"{kind}_{int(h)}m"
                    for kind in ("relapse", "nrm", "risk")
                    for h in HORIZONS_MONTHS
                ],
            )
        )
    return pd.concat(parts)


# -- the attainable oracle -------------------------------------------------------------------
ATTAINABLE_SAMPLE = 100_000


class AttainableOracle:
    """E[oracle risk | observed predictors]: the best any model of what a registry recorded
    can do under the generator (its 12-month risk maximises the 12-month AUC and minimises
    the 12-month Brier score among functions of the observed predictors).

    The full oracle sees values the registry blanked; conditioning on the observed ones means
    integrating the blanked values over their law given the observed ones (blanking is at
    random; one latent burden links the disease-extent measures). That integral is
    approximated here by regression, not quadrature: gradient-boosted trees fitted to the
    full oracle's risks of `n` fresh simulated patients, on the encoded observed predictors,
    with XGBoost's logistic objective (cross-entropy with the risk as a fractional label:
    additive on the logit scale, where the day-28 plateau and its steep rise need few
    splits, while its minimiser is still the conditional mean of the risk; a squared error
    on the logit would estimate the mean logit, 0.03 off the mean risk at day 28 with
    missing values). The number of trees is chosen by early stopping on a fifth of the
    simulated patients: with missing values the target is noisy (the blanked values vary
    given the recorded ones) and about 500 trees suffice; with complete data it is not and
    the fit runs to 3,000. Measured on 20,000 fresh patients (100,000 to fit): the mean
    absolute error of the 12-month risk to the full oracle with complete data 0.0037 at
    infusion and 0.0087 at day 28 (squared error on the risk, 400 trees of depth 6, gave
    0.0075 and 0.0285), and with missing values the mean squared distance to the full
    oracle, which the conditional mean minimises, 0.0124 and 0.0423 (0.0125 and 0.0428).
    Its approximation error is measured
    where the answer is known: with every predictor recorded the attainable oracle is the
    full oracle, so the regression's mean absolute error against it on complete data bounds
    what the approximation adds (`benchmarks/oracle_gap.py` prints it).
    """

    def __init__(
        self,
        landmark: str,
        params: GeneratorParams | None = None,
        *,
        n: int = ATTAINABLE_SAMPLE,
        seed: int = 20261201,
        missing: bool = True,
    ):
        self.landmark, self.params, self.n, self.seed, self.missing = (
            landmark,
            params,
            n,
            seed,
            missing,
        )

    def fit(self) -> AttainableOracle:
        import xgboost as xgb

        from features.encode import encode

        frame = _observed_cohort(self.n, self.seed, self.params, self.landmark, self.missing)
        truth = oracle_risks(frame, self.landmark, self.params)
        X = encode(frame, self.landmark)
        self.feature_names_ = list(X.columns)
        self.models_ = {}
        x = X.to_numpy(np.float32)
        fit_rows = np.arange(len(x)) % 5 != 0  # every fifth simulated patient stops the fit
        for h in HORIZONS_MONTHS:
            target = truth[f"risk_{int(h)}m"].to_numpy(float)
            model = xgb.XGBRegressor(
                objective="reg:logistic",
                n_estimators=3000,
                early_stopping_rounds=50,
                eval_metric="rmse",
                max_depth=6,
                learning_rate=0.05,
                subsample=0.8,
                min_child_weight=20,
                tree_method="hist",
                n_jobs=2,
                random_state=0,
            )
            self.models_[h] = model.fit(
                x[fit_rows],
                target[fit_rows],
                eval_set=[(x[~fit_rows], target[~fit_rows])],
                verbose=False,
            )
        return self

    def risks(self, X: pd.DataFrame) -> pd.DataFrame:
        """risk_6m, risk_12m, risk_24m of patients with encoded observed predictors `X`."""
        x = X[self.feature_names_].to_numpy(np.float32)
        return pd.DataFrame(
            {f"risk_{int(h)}m": m.predict(x) for h, m in self.models_.items()},
            index=X.index,
        )


def _observed_cohort(n, seed, params, landmark, missing) -> pd.DataFrame:
    """Validated canonical rows of the landmark with their latent columns."""
    from features.validate import validate_frame
    from synthetic.generator import canonical, simulate

    full = simulate(n, seed, params, missing=missing)
    frame = validate_frame(canonical(full), require_outcomes=True, nan_is_missing=True).frame
    frame = frame.join(full[[c for c in full.columns if c.startswith("_")]])
    if landmark != INFUSION:
        frame = frame.loc[frame[PFS_MONTHS] > DAY28_MONTHS]
    return frame
