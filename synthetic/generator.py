"""Mechanistic generator of synthetic CAR-T cohorts (the project's ground truth).

A latent tumour burden links LDH, TMTV, stage, ECOG, extranodal sites and IPI; bridging follows
burden; a response process (TP53, CAR-T expansion, risk) decides CR/PR/SD/PD; a share of
responders is cured (the PFS plateau), the rest relapse; ctDNA at day 28 reflects residual
disease. Every random number is drawn up front, so a parameter change moves outcomes smoothly
(common random numbers), which is what lets `synthetic.fit` fit the parameters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import special, stats
from tqdm import tqdm

from features.errors import EvidenceError
from features.ipi import AGE_ABOVE as IPI_AGE_ABOVE
from features.ipi import ECOG_FROM as IPI_ECOG_FROM
from features.ipi import EXTRANODAL_ABOVE as IPI_EXTRANODAL_ABOVE
from features.ipi import STAGE_FROM as IPI_STAGE_FROM
from features.schema import (
    COLUMNS,
    FIELDS_BY_NAME,
    OS_EVENT,
    OS_MONTHS,
    PFS_EVENT,
    PFS_EVENT_TYPE,
    PFS_MONTHS,
)

DAY28_MONTHS = 28 / 30.4375
PARAMS_FILE = "generator_params.json"

# Which random streams exist, in the order they are drawn (appending keeps old seeds valid).
_STREAMS = (
    "age",
    "burden",
    "stage",
    "ecog",
    "extranodal",
    "ldh",
    "uln",
    "tmtv",
    "tp53",
    "lines",
    "bridging",
    "bridging_type",
    "cmax",
    "response",
    "cure",
    "progression",
    "nrm",
    "salvage",
    "post_progression",
    "salvage_time",
    "follow_up",
    "dropout",
    "ctdna",
)
_MISSING_STREAMS = (
    "ecog",
    "stage",
    "extranodal_sites",
    "ldh",
    "ipi",
    "aaipi",
    "tmtv_ml",
    "tp53_status",
    "prior_lines",
    "ctdna_d28",
    "cart_cmax_per_ul",
)
# The progression landmark's streams: drawn after every stream above, so a seed gives the
# same patients up to progression as before they existed.
_PROGRESSION_STREAMS = (
    "p_ecog",
    "p_ldh",
    "p_hb",
    "p_extranodal",
    "p_cd19",
    "p_treated",
    "p_pfs2",
    "p_survival",
)
_PROGRESSION_MISSING = (
    "ecog_at_progression",
    "ldh_at_progression",
    "haemoglobin_at_progression_g_dl",
    "extranodal_sites_at_progression",
    "cd19_at_progression",
)


@dataclass(frozen=True)
class GeneratorParams:
    """Generator parameters: `fitted` are found by `synthetic.fit`, `fixed` are design choices."""

    version: str
    fixed: dict
    fitted: dict
    fit_report: dict
    # Parameters the file lacked (an older generator's file), taken from the shipped ones.
    filled_from_defaults: tuple = ()

    def value(self, name: str):
        if name in self.fitted:
            return self.fitted[name]
        if name in self.fixed:
            return self.fixed[name]
        raise EvidenceError(f"generator parameter {name!r} is missing from the parameter file")

    def with_fitted(self, fitted: dict, fit_report: dict | None = None) -> GeneratorParams:
        return GeneratorParams(
            self.version,
            self.fixed,
            {**self.fitted, **fitted},
            fit_report if fit_report is not None else self.fit_report,
        )

    def with_overrides(self, **values) -> GeneratorParams:
        """The same parameters with some replaced (e.g. a shifted case-mix)."""
        unknown = set(values) - set(self.fixed) - set(self.fitted)
        if unknown:
            raise EvidenceError(f"unknown generator parameters: {sorted(unknown)}")
        return GeneratorParams(
            self.version + "+overrides",
            {k: values.get(k, v) for k, v in self.fixed.items()},
            {k: values.get(k, v) for k, v in self.fitted.items()},
            self.fit_report,
        )

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "version": self.version,
                    "fixed": self.fixed,
                    "fitted": self.fitted,
                    "fit_report": self.fit_report,
                },
                indent=2,
                sort_keys=False,
            )
            + "\n"
        )


def load_params(path: str | Path | None = None) -> GeneratorParams:
    """Read generator parameters (default: the versioned file shipped with the package)."""
    if path is None:
        text = (resources.files("synthetic") / "data" / PARAMS_FILE).read_text()
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise EvidenceError(f"generator parameter file {path}: {exc.strerror}") from exc
    try:
        raw = json.loads(text)
        params = GeneratorParams(
            raw["version"], dict(raw["fixed"]), dict(raw["fitted"]), raw.get("fit_report", {})
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EvidenceError(
            f"generator parameter file {path or PARAMS_FILE} is malformed "
            f'({type(exc).__name__}: {exc}); it needs "version", '
            '"fixed" and "fitted"'
        ) from exc
    if path is None:
        return params
    # A file from an older generator lacks the parameters added since: they are taken from
    # the shipped file, and the caller is told which (`filled_from_defaults`).
    shipped = load_params()
    missing = {
        k: v for k, v in shipped.fixed.items() if k not in params.fixed and k not in params.fitted
    }
    missing_fitted = {
        k: v for k, v in shipped.fitted.items() if k not in params.fitted and k not in params.fixed
    }
    unknown = (set(params.fixed) | set(params.fitted)) - set(shipped.fixed) - set(shipped.fitted)
    if unknown:
        raise EvidenceError(
            f"generator parameter file {path}: unknown parameters "
            f"{sorted(unknown)} (this generator knows those of "
            f"{PARAMS_FILE}, version {shipped.version})"
        )
    return GeneratorParams(
        params.version,
        {**params.fixed, **missing},
        {**params.fitted, **missing_fitted},
        params.fit_report,
        tuple(sorted([*missing, *missing_fitted])),
    )


def _draw(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """All random numbers a cohort needs, as uniforms (inverse-CDF transforms come later)."""
    draws = {name: rng.random(n) for name in _STREAMS}
    draws.update({f"missing_{name}": rng.random(n) for name in _MISSING_STREAMS})
    draws.update({name: rng.random(n) for name in _PROGRESSION_STREAMS})
    draws.update({f"missing_{name}": rng.random(n) for name in _PROGRESSION_MISSING})
    return draws


def _ordinal(latent: np.ndarray, cumulative: list[float]) -> np.ndarray:
    """Category index (0-based) of a standard-normal latent cut at cumulative probabilities."""
    cuts = stats.norm.ppf(np.asarray(cumulative, dtype=float))
    return np.searchsorted(cuts, latent, side="left")


def _weibull_ph(scale: float, shape: float, u: np.ndarray, log_hazard_ratio: np.ndarray):
    """Weibull times with proportional hazards exp(log_hazard_ratio) via inverse CDF."""
    e = -np.log1p(-u)
    return scale * (e * np.exp(-log_hazard_ratio)) ** (1.0 / shape)


def nrm_log_hazard_ratio(age: np.ndarray, ecog: np.ndarray, p: GeneratorParams) -> np.ndarray:
    """Log hazard ratio of non-relapse mortality for age >= 65 and ECOG >= 2."""
    return np.log(p.value("nrm_hr_age_65")) * (np.asarray(age) >= 65) + np.log(
        p.value("nrm_hr_ecog_2")
    ) * (np.asarray(ecog) >= 2)


def nrm_cumulative_hazard(t, p: GeneratorParams) -> np.ndarray:
    """Baseline cumulative hazard of non-relapse mortality at months `t`.

    A constant hazard until day 28 (CRS, ICANS, early infections), then a Weibull hazard with
    a falling rate (late infections): H(t) = r_e min(t, d28) + r_l (t^k - d28^k) for t > d28.
    """
    t = np.asarray(t, float)
    early, late, shape = (
        p.value("nrm_early_rate_per_month"),
        p.value("nrm_late_rate"),
        p.value("nrm_late_shape"),
    )
    return early * np.minimum(t, DAY28_MONTHS) + late * (
        np.maximum(t, DAY28_MONTHS) ** shape - DAY28_MONTHS**shape
    )


def nrm_time(exposure: np.ndarray, p: GeneratorParams) -> np.ndarray:
    """Inverse of `nrm_cumulative_hazard`: the time at which it reaches `exposure`."""
    early, late, shape = (
        p.value("nrm_early_rate_per_month"),
        p.value("nrm_late_rate"),
        p.value("nrm_late_shape"),
    )
    at_landmark = early * DAY28_MONTHS
    after = (np.maximum(exposure - at_landmark, 0) / late + DAY28_MONTHS**shape) ** (1 / shape)
    return np.where(exposure <= at_landmark, exposure / early, after)


def _within_schema(name: str, draws: np.ndarray) -> np.ndarray:
    """Log-normal draws kept in the schema's range: the tail is wrong, not the range.
    TMTV's log-normal (median 55 mL, log-SD 1.28) passes 20,000 mL about twice per million
    patients (seed 3 drew 23,755 mL at n = 300,000): twenty litres of metabolically active
    tumour, over a quarter of an adult's body volume, is not a patient treated with CAR-T,
    and the only TMTV evidence entry is a threshold at 80 mL, which a cap this far above it
    cannot move. A cap leaves every draw within range, and so any seeded cohort that had
    none outside it, byte for byte as before."""
    field = FIELDS_BY_NAME[name]
    return np.clip(draws, field.minimum, field.maximum)


def simulate(
    n: int,
    seed: int | np.random.Generator,
    params: GeneratorParams | None = None,
    *,
    missing: bool = True,
) -> pd.DataFrame:
    """Simulate a cohort with canonical columns, outcomes and latent truth.

    Parameters
    ----------
    n : int
        Number of patients (>= 1).
    seed : int or numpy.random.Generator
        The only source of randomness; the same seed and parameters give the same cohort.
    params : GeneratorParams, optional
        Default: the shipped, fitted parameters.
    missing : bool, default True
        Blank predictors the way a registry does (False keeps every true value).

    Returns
    -------
    DataFrame
        Canonical columns (numbers as float, NaN = missing) plus latent columns whose names
        start with an underscore (`_cured`, `_progression_months`, ...), used by calibration.
    """
    if not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    p = params if params is not None else load_params()
    v = p.value
    u = _draw(int(n), rng)
    z = {
        k: stats.norm.ppf(np.clip(u[k], 1e-12, 1 - 1e-12))
        for k in ("age", "burden", "stage", "ecog", "ldh", "tmtv", "cmax", "post_progression")
    }

    # Baseline: a latent tumour burden links the disease-extent measures.
    burden = z["burden"]
    age = np.clip(np.round(v("age_median") + v("age_sd") * z["age"]), 18, 84)

    def linked(key: str, weight: float) -> np.ndarray:
        return weight * burden + np.sqrt(1 - weight**2) * z[key]

    stage = 1 + _ordinal(linked("stage", v("stage_burden_weight")), v("stage_cumulative"))
    ecog = _ordinal(linked("ecog", v("ecog_burden_weight")), v("ecog_cumulative"))
    # At most `extranodal_max_sites` involved sites, each more likely with more burden.
    extranodal = stats.binom.ppf(
        u["extranodal"],
        v("extranodal_max_sites"),
        special.expit(v("extranodal_logit") + v("extranodal_burden") * burden),
    )
    ulns = np.asarray(v("ldh_uln_choices"), dtype=float)
    uln = ulns[np.minimum((u["uln"] * len(ulns)).astype(int), len(ulns) - 1)]
    log_ldh_ratio = v("ldh_log_ratio_mean") + v("ldh_burden") * burden + v("ldh_noise") * z["ldh"]
    ldh = _within_schema("ldh_u_l", np.round(uln * np.exp(log_ldh_ratio)))
    tmtv = _within_schema(
        "tmtv_ml",
        np.round(
            np.exp(v("tmtv_log_mean") + v("tmtv_burden") * burden + v("tmtv_noise") * z["tmtv"]), 1
        ),
    )
    tp53_altered = u["tp53"] < v("tp53_altered_prevalence")
    line_probs = np.asarray(v("prior_lines_probabilities"), dtype=float)
    lines = 1 + np.searchsorted(np.cumsum(line_probs / line_probs.sum()), u["lines"])
    lines = np.minimum(lines, len(line_probs))

    ldh_elevated = (ldh > uln).astype(float)
    aaipi = (stage >= IPI_STAGE_FROM).astype(int) + (ecog >= IPI_ECOG_FROM) + (ldh > uln)
    ipi = aaipi + (age > IPI_AGE_ABOVE) + (extranodal > IPI_EXTRANODAL_ABOVE)

    bridged = u["bridging"] < special.expit(v("bridging_logit") + v("bridging_burden") * burden)
    type_names = list(v("bridging_type_probabilities"))
    type_probs = np.asarray([v("bridging_type_probabilities")[t] for t in type_names])
    type_index = np.minimum(
        np.searchsorted(np.cumsum(type_probs / type_probs.sum()), u["bridging_type"]),
        len(type_names) - 1,
    )
    bridging = np.where(bridged, np.asarray(type_names, dtype=object)[type_index], "none")
    type_weight = np.asarray([v("bridging_type_weights").get(t, 1.0) for t in type_names])
    bridging_weight = np.where(bridged, type_weight[type_index], 0.0)

    # Risk: one linear predictor acting on response, cure and time to relapse.
    risk = (
        v("beta_prior_lines") * (lines - 2)
        + v("beta_bridging") * bridging_weight
        + v("beta_ldh_elevated") * ldh_elevated
        + v("beta_ipi") * (ipi - 2)
        + v("beta_log_tmtv") * np.log(tmtv / v("tmtv_reference_ml"))
        + v("beta_stage") * (stage - 3)
    )

    # Response: expansion helps, TP53 alteration and risk hurt (ordered logistic).
    log_cmax = v("cmax_log_mean") + v("cmax_log_sd") * z["cmax"]
    cmax = _within_schema("cart_cmax_per_ul", np.round(np.exp(log_cmax), 2))
    response_score = (
        -risk
        + v("response_cmax") * z["cmax"]
        - v("response_tp53") * tp53_altered
        + special.logit(np.clip(u["response"], 1e-12, 1 - 1e-12))
    )
    best = np.where(
        response_score > v("cr_threshold"),
        "CR",
        np.where(
            response_score > v("or_threshold"),
            "PR",
            np.where(response_score > v("or_threshold") - v("sd_width"), "SD", "PD"),
        ),
    )
    responder = (best == "CR") | (best == "PR")

    # Durable remission: a share of responders never relapses.
    cure_logit = (
        v("cure_logit") - v("cure_risk") * risk - np.where(best == "PR", v("cure_pr_penalty"), 0)
    )
    cured = responder & (u["cure"] < special.expit(cure_logit))

    # Time to progression for the others: early for non-responders, later for responders.
    scale = v("time_scale")
    group_scale = np.select(
        [best == "PD", best == "SD", best == "PR"],
        [v("pd_scale"), v("sd_scale"), v("pr_scale")],
        v("cr_scale"),
    )
    group_shape = np.select(
        [best == "PD", best == "SD", best == "PR"],
        [v("pd_shape"), v("sd_shape"), v("pr_shape")],
        v("cr_shape"),
    )
    e = -np.log1p(-u["progression"])
    progression = scale * group_scale * (e * np.exp(-risk)) ** (1.0 / group_shape)
    progression = np.where(cured, np.inf, progression)
    nrm_log_hr = nrm_log_hazard_ratio(age, ecog, p)
    nrm = nrm_time(-np.log1p(-u["nrm"]) * np.exp(-nrm_log_hr), p)
    pfs_true = np.minimum(progression, nrm)
    progressed = progression <= nrm

    # At progression: what is assessed then, and survival after it (`_at_progression`).
    prog = _at_progression(
        u,
        p,
        burden=burden,
        responder=responder,
        risk=risk,
        months=progression,
        extranodal=extranodal,
        age=age,
        lines=lines,
        uln=uln,
    )
    post = prog["survival"]
    os_true = np.where(progressed, progression + post, nrm)

    # Follow-up: staggered entry (administrative censoring) plus a little loss to follow-up.
    lo, hi = v("follow_up_uniform_months")
    follow_up = np.minimum(
        lo + (hi - lo) * u["follow_up"], -np.log1p(-u["dropout"]) * v("dropout_mean_months")
    )
    pfs_months = np.minimum(pfs_true, follow_up)
    os_months = np.minimum(os_true, follow_up)

    # Day-28 landmark: ctDNA reflects residual disease in patients still event-free then.
    # As the landmark selects it: on the recorded (rounded) time.
    at_landmark = np.round(pfs_months, 3) > DAY28_MONTHS
    # Fields at progression exist for the progressions the registry saw (before follow-up
    # ended), like the PFS event itself.
    seen = progressed & (pfs_true <= follow_up)
    ctdna_logit = (
        v("ctdna_logit")
        + v("ctdna_non_responder") * ~responder
        + v("ctdna_relapsing") * (responder & ~cured)
    )
    ctdna = np.where(u["ctdna"] < special.expit(ctdna_logit), "detectable", "undetectable")

    frame = pd.DataFrame(
        {
            "patient_id": [
                f"SYN{seed if isinstance(seed, int) else 'G'}-{i:07d}" for i in range(1, n + 1)
            ],
            "age_years": age,
            "ecog": ecog.astype(float),
            "stage": stage.astype(float),
            "extranodal_sites": extranodal.astype(float),
            "ldh_u_l": ldh,
            "ldh_uln_u_l": uln,
            "ipi": ipi.astype(float),
            "aaipi": aaipi.astype(float),
            "tmtv_ml": tmtv,
            "tp53_status": np.where(tp53_altered, "altered", "wild_type").astype(object),
            "prior_lines": lines.astype(float),
            "bridging_therapy": bridging.astype(object),
            "ctdna_d28": np.where(at_landmark, ctdna, None).astype(object),
            "cart_cmax_per_ul": cmax,
            PFS_MONTHS: np.round(pfs_months, 3),
            PFS_EVENT: (pfs_true <= follow_up).astype(float),
            PFS_EVENT_TYPE: np.where(
                pfs_true <= follow_up, np.where(progressed, "progression", "death"), None
            ).astype(object),
            OS_MONTHS: np.round(os_months, 3),
            OS_EVENT: (os_true <= follow_up).astype(float),
            "best_response": best.astype(object),
            "progression_months": np.where(seen, np.round(pfs_months, 3), np.nan),
            "ecog_at_progression": np.where(seen, prog["ecog"], np.nan),
            "ldh_at_progression_u_l": np.where(seen, prog["ldh"], np.nan),
            "ldh_uln_at_progression_u_l": np.where(seen, uln, np.nan),
            "haemoglobin_at_progression_g_dl": np.where(seen, prog["haemoglobin"], np.nan),
            "extranodal_sites_at_progression": np.where(seen, prog["extranodal"], np.nan),
            "cd19_at_progression": np.where(seen, prog["cd19"], None).astype(object),
            "_risk": risk,
            # What the oracle (`synthetic.oracle`) sees: true predictor values before registry
            # blanking, and the day-28 ctDNA a patient would have had.
            "_tp53_altered": tp53_altered,
            "_z_cmax": z["cmax"],
            "_nrm_log_hr": nrm_log_hr,
            "_ctdna_detectable": u["ctdna"] < special.expit(ctdna_logit),
            "_cured": cured,
            "_progressed": progressed & (progression <= follow_up),
            "_progression_months": np.where(progressed, progression, np.nan),
            "_post_progression_months": np.where(
                progressed, np.minimum(post, follow_up - progression), np.nan
            ),
            "_post_progression_event": progressed & (os_true <= follow_up),
            # After failure: treated further, and progression-free survival from progression
            # (second progression or death) on the same follow-up.
            "_treated_after_failure": progressed & prog["treated"],
            "_pfs2_months": np.where(
                progressed, np.minimum(prog["pfs2"], follow_up - progression), np.nan
            ),
            "_pfs2_event": progressed & (progression + prog["pfs2"] <= follow_up),
            "_follow_up_months": follow_up,
        }
    )
    if missing:
        _blank(frame, u, p)
    return frame


def _blank(frame: pd.DataFrame, u: dict[str, np.ndarray], p: GeneratorParams) -> None:
    """Blank values completely at random at the registry-like rates of the parameter file."""
    rates = {**p.value("missing_rates"), **p.value("progression_missing_rates")}
    pairs = {
        "ldh": ["ldh_u_l", "ldh_uln_u_l"],
        "ldh_at_progression": ["ldh_at_progression_u_l", "ldh_uln_at_progression_u_l"],
    }
    for name in (*_MISSING_STREAMS, *_PROGRESSION_MISSING):
        hit = u[f"missing_{name}"] < rates[name]
        for column in pairs.get(name, [name]):
            frame.loc[hit, column] = None if frame[column].dtype == object else np.nan


def _at_progression(
    u: dict[str, np.ndarray],
    p: GeneratorParams,
    *,
    burden,
    responder,
    risk,
    months,
    extranodal,
    age,
    lines,
    uln,
) -> dict[str, np.ndarray]:
    """What is assessed at progression, treatment after it, and survival from it.

    The fields follow what the generator already knows: the tumour burden (ECOG, LDH,
    haemoglobin, extranodal sites), how early the disease came back (early failure is
    aggressive disease: worse on each), the extranodal sites at infusion, and response
    (antigen escape, CD19-negative or -low relapse, is a relapse of responders). Survival
    after progression is log-normal with a log-time linear in these fields (so PC-PI's
    dichotomised factors carry most, but not all, of the information), the baseline risk and
    response; a share of patients treated further is salvaged for good. Every figure this
    part must reproduce is in the evidence table (`calibrate` checks them).
    """
    v = p.value
    z = {
        k: stats.norm.ppf(np.clip(u[k], 1e-12, 1 - 1e-12))
        for k in ("p_ecog", "p_ldh", "p_hb", "p_pfs2", "p_survival")
    }
    with np.errstate(divide="ignore", invalid="ignore"):
        months = np.where(np.isfinite(months), months, 600.0)
        # How early the failure came, on the log scale around PC-PI's 4 months, up to a cap
        # (a late relapse helps only so much); on survival also from a floor (a failure in
        # the first weeks is not worse without end).
        cut, cap = v("pcpi_time_cut_months"), v("progression_late_cap_months")
        early = np.log(cut / np.clip(months, 0.05, cap))
        early_survival = np.log(cut / np.clip(months, v("progression_early_floor_months"), cap))
    aggressive = burden + v("progression_early_weight") * early
    ecog = _ordinal(
        v("progression_ecog_weight") * aggressive
        + np.sqrt(1 - v("progression_ecog_weight") ** 2) * z["p_ecog"],
        v("progression_ecog_cumulative"),
    )
    log_ldh_ratio = (
        v("progression_ldh_log_ratio_mean")
        + v("progression_ldh_aggressive") * aggressive
        + v("progression_ldh_noise") * z["p_ldh"]
    )
    haemoglobin = np.clip(
        np.round(
            v("progression_hb_mean")
            - v("progression_hb_aggressive") * aggressive
            + v("progression_hb_sd") * z["p_hb"],
            1,
        ),
        3,
        20,
    )
    sites = stats.binom.ppf(
        u["p_extranodal"],
        v("extranodal_max_sites"),
        special.expit(
            v("progression_extranodal_logit")
            + v("progression_extranodal_aggressive") * aggressive
            + v("progression_extranodal_per_site") * extranodal
        ),
    )
    cd19_negative = special.expit(v("cd19_negative_logit") + v("cd19_responder") * responder)
    cd19_low = special.expit(v("cd19_low_logit") + v("cd19_responder") * responder)
    cd19 = np.where(
        u["p_cd19"] < cd19_negative,
        "negative",
        np.where(u["p_cd19"] < cd19_negative + cd19_low, "low", "positive"),
    )
    ldh_ratio = np.exp(log_ldh_ratio)
    log_time = (
        np.log(v("post_progression_scale"))
        + np.log(v("relapsed_median_ratio")) * responder
        - v("post_progression_risk") * risk
        - v("post_ecog") * (ecog - 1)
        - v("post_log2_ldh_ratio") * np.log2(ldh_ratio)
        - v("post_hb_deficit") * (11 - haemoglobin)
        - v("post_extranodal") * (np.minimum(sites, 5) - 1)
        - v("post_early") * early_survival
        - v("post_cd19_negative") * (cd19 == "negative")
        - v("post_age_decade") * (age - 60) / 10
        - v("post_lines") * (lines - 2)
    )
    treated = u["p_treated"] < special.expit(
        v("treated_logit") - v("treated_refractory") * ~responder - v("treated_ecog") * (ecog >= 2)
    )
    log_time = log_time + v("treated_effect") * treated
    survival = np.exp(log_time + v("post_progression_sd") * z["p_survival"])
    salvaged = treated & (u["salvage"] < v("salvage_fraction"))
    survival = np.where(
        salvaged,
        np.maximum(survival, -np.log1p(-u["salvage_time"]) * v("salvaged_mean_months")),
        survival,
    )
    pfs2 = np.where(
        treated & ~salvaged,
        survival * special.expit(v("pfs2_logit") + v("pfs2_sd") * z["p_pfs2"]),
        survival,
    )
    ldh = _within_schema("ldh_at_progression_u_l", np.round(uln * ldh_ratio))
    return {
        "ecog": ecog.astype(float),
        "ldh": ldh,
        "haemoglobin": haemoglobin,
        "extranodal": sites,
        "cd19": cd19,
        "treated": treated,
        "pfs2": pfs2,
        "survival": survival,
    }


def canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical columns only (what `relapse-risk synth` writes)."""
    return frame.loc[:, [c for c in COLUMNS if c in frame.columns]]


def write_csv(
    frame: pd.DataFrame, path: str | Path, *, chunk_rows: int = 100_000, progress: bool = False
) -> None:
    """Write a cohort as CSV: blanks for missing values, fixed number formats (same bytes).

    Written in chunks so a progress bar can follow a million-row cohort.
    """
    out = canonical(frame)
    integral = [
        c for c in out.columns if out[c].dtype.kind == "f" and out[c].dropna().mod(1).eq(0).all()
    ]
    with (
        open(path, "w", newline="") as handle,
        tqdm(total=len(out), unit="rows", desc="writing", disable=not progress) as bar,
    ):
        for start in range(0, len(out), chunk_rows):
            chunk = out.iloc[start : start + chunk_rows].copy()
            for column in integral:
                chunk[column] = chunk[column].astype("Int64")
            chunk.to_csv(
                handle, index=False, header=start == 0, lineterminator="\n", float_format="%.6g"
            )
            bar.update(len(chunk))
