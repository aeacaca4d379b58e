"""Calibration check: refit every published figure on a simulated cohort, each by its own method.

Cox models with the published covariate sets, Kaplan-Meier medians and survival, proportions
and medians; every estimate comes with a 95% CI and a pass/fail against the evidence table.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter
from lifelines.utils import median_survival_times
from scipy import stats

from features import pcpi
from features.errors import CalibrationWarning
from features.schema import OS_EVENT, OS_MONTHS, PFS_EVENT, PFS_EVENT_TYPE, PFS_MONTHS
from synthetic.evidence import Evidence, load_evidence
from synthetic.generator import DAY28_MONTHS


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float = float("nan")
    high: float = float("nan")
    n: int = 0

    def standard_error(self, log_scale: bool) -> float:
        """SE from the 95% CI (on the log scale for ratios and medians)."""
        lo, hi = self.low, self.high
        if not (np.isfinite(lo) and np.isfinite(hi)):
            return float("nan")
        if log_scale:
            if lo <= 0:
                return float("nan")
            lo, hi = np.log(lo), np.log(hi)
        return (hi - lo) / (2 * 1.959964)


@dataclass(frozen=True)
class Row:
    evidence: Evidence
    estimate: Estimate | None
    passed: bool | None


_LOG_SCALE_UNITS = {"HR", "OR", "months", "cells/uL", "ratio", "years"}


def _proportion(mask: np.ndarray, population: np.ndarray) -> Estimate:
    k, n = int((mask & population).sum()), int(population.sum())
    if n == 0:
        return Estimate(float("nan"))
    ci = stats.binomtest(k, n).proportion_ci(method="wilson")
    return Estimate(k / n, ci.low, ci.high, n)


def _median(values: np.ndarray) -> Estimate:
    values = values[~np.isnan(values)]
    if values.size < 10:
        return Estimate(float("nan"), n=int(values.size))
    ci = stats.quantile_test(values, q=np.median(values), p=0.5).confidence_interval()
    return Estimate(float(np.median(values)), float(ci.low), float(ci.high), int(values.size))


def _km(durations, events) -> KaplanMeierFitter:
    return KaplanMeierFitter().fit(np.asarray(durations, float), np.asarray(events, float))


def _km_median(durations, events) -> Estimate:
    km = _km(durations, events)
    ci = median_survival_times(km.confidence_interval_).to_numpy().ravel()
    return Estimate(float(km.median_survival_time_), float(ci[0]), float(ci[1]), len(durations))


def _km_survival(durations, events, at: float) -> Estimate:
    km = _km(durations, events)
    value = float(km.survival_function_at_times(at).iloc[0])
    ci = km.confidence_interval_survival_function_
    row = ci[ci.index <= at].iloc[-1]
    return Estimate(value, float(row.iloc[0]), float(row.iloc[1]), len(durations))


def cox_breslow(
    x: np.ndarray, durations: np.ndarray, events: np.ndarray, max_iter: int = 25
) -> np.ndarray:
    """Cox coefficients by Newton-Raphson on the Breslow partial likelihood (no SEs).

    Only for the generator fit, which needs hundreds of fits; calibration reports use
    lifelines, and a test checks the two agree.
    """
    order = np.argsort(-durations, kind="stable")
    x, t, e = x[order], durations[order], events[order].astype(bool)
    # With times descending, the risk set of a patient ends at the last one tied with it.
    last = np.searchsorted(-t, -t, side="right") - 1
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        w = np.exp(x @ beta)
        s0 = np.cumsum(w)[last][e]
        s1 = np.cumsum(w[:, None] * x, axis=0)[last][e]
        s2 = np.cumsum(w[:, None, None] * x[:, :, None] * x[:, None, :], axis=0)[last][e]
        mean = s1 / s0[:, None]
        grad = (x[e] - mean).sum(axis=0)
        hess = (s2 / s0[:, None, None] - mean[:, :, None] * mean[:, None, :]).sum(axis=0)
        step = np.linalg.solve(hess, grad)
        beta += step
        if np.max(np.abs(step)) < 1e-9:
            break
    return beta


class CohortStatistics:
    """Every statistic the evidence table names, computed lazily on one simulated cohort.

    Parameters
    ----------
    cohort : DataFrame
        Output of `synthetic.generator.simulate` (canonical plus latent columns).
    """

    def __init__(self, cohort: pd.DataFrame, *, fast: bool = False):
        self.cohort = cohort
        self.fast = fast
        c = cohort
        self.pfs_t = c[PFS_MONTHS].to_numpy(float)
        self.pfs_e = c[PFS_EVENT].to_numpy(float)
        self.os_t = c[OS_MONTHS].to_numpy(float)
        self.os_e = c[OS_EVENT].to_numpy(float)
        self.best = c["best_response"].to_numpy(object)
        self.responder = np.isin(self.best, ["CR", "PR"])
        self.all = np.ones(len(c), bool)

    def _design(self, covariates: list[str]) -> pd.DataFrame:
        c = self.cohort
        cols = {
            "prior_lines": c["prior_lines"],
            "bridging": np.where(
                c["bridging_therapy"].isna(),
                np.nan,
                (c["bridging_therapy"] != "none").astype(float),
            ),
            "ldh_elevated": np.where(
                c["ldh_u_l"].isna() | c["ldh_uln_u_l"].isna(),
                np.nan,
                (c["ldh_u_l"] > c["ldh_uln_u_l"]).astype(float),
            ),
            "ipi": c["ipi"],
            "age_years": c["age_years"],
            "stage": c["stage"],
        }
        return pd.DataFrame({k: np.asarray(cols[k], float) for k in covariates})

    def _cox(self, design: pd.DataFrame, durations, events) -> pd.DataFrame:
        data = design.assign(_t=durations, _e=events).dropna()
        if self.fast:
            beta = cox_breslow(
                data[design.columns].to_numpy(float),
                data["_t"].to_numpy(float),
                data["_e"].to_numpy(float),
            )
            return pd.DataFrame(
                {"hr": np.exp(beta), "low": np.nan, "high": np.nan, "n": len(data)},
                index=design.columns,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = CoxPHFitter().fit(data, duration_col="_t", event_col="_e")
        summary = fit.summary
        return pd.DataFrame(
            {
                "hr": summary["exp(coef)"],
                "low": summary["exp(coef) lower 95%"],
                "high": summary["exp(coef) upper 95%"],
                "n": len(data),
            }
        )

    @cached_property
    def cox_pfs(self) -> pd.DataFrame:
        return self._cox(
            self._design(["prior_lines", "bridging", "ldh_elevated", "ipi"]), self.pfs_t, self.pfs_e
        )

    @cached_property
    def cox_os(self) -> pd.DataFrame:
        return self._cox(
            self._design(["prior_lines", "bridging", "ldh_elevated", "ipi"]), self.os_t, self.os_e
        )

    @cached_property
    def cox_pfs_age_stage(self) -> pd.DataFrame:
        return self._cox(
            self._design(["prior_lines", "bridging", "ldh_elevated", "ipi", "age_years", "stage"]),
            self.pfs_t,
            self.pfs_e,
        )

    @cached_property
    def cox_bridging_type(self) -> pd.DataFrame:
        design = self._design(["prior_lines", "ldh_elevated", "ipi"])
        bt = self.cohort["bridging_therapy"].to_numpy(object)
        for name in (
            "chemotherapy",
            "imid",
            "radiotherapy",
            "polatuzumab_br",
            "btk_inhibitor",
            "steroids",
            "anti_cd20",
            "other",
        ):
            design[f"bt_{name}"] = (bt == name).astype(float)
        return self._cox(design, self.pfs_t, self.pfs_e)

    def _hr(self, table: pd.DataFrame, name: str) -> Estimate:
        r = table.loc[name]
        return Estimate(float(r.hr), float(r.low), float(r.high), int(r.n))

    def _prop_known(self, column: str, values) -> Estimate:
        col = self.cohort[column]
        return _proportion(col.isin(values).to_numpy(), col.notna().to_numpy())

    def first_month_tmtv(self) -> Estimate:
        tmtv = self.cohort["tmtv_ml"].to_numpy(float)
        known = ~np.isnan(tmtv)
        design = pd.DataFrame({"tmtv_gt_80": (tmtv[known] > 80).astype(float)})
        t = np.minimum(self.pfs_t[known], 1.0)
        e = (self.pfs_e[known] == 1) & (self.pfs_t[known] <= 1.0)
        return self._hr(self._cox(design, t, e.astype(float)), "tmtv_gt_80")

    @cached_property
    def nrm_incidence(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Aalen-Johansen cumulative incidence of non-relapse mortality (death without
        progression, competing with progression): (times, estimate, 95% CI of shape (2, n)).

        lifelines' estimator (its variance is linear in memory; scikit-survival's needs
        gigabytes for 20,000 patients). It breaks tied times by a seeded jitter.
        """
        kind = self.cohort[PFS_EVENT_TYPE].to_numpy(object)
        cause = np.where(self.pfs_e == 1, np.where(kind == "death", 2, 1), 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            aj = AalenJohansenFitter(seed=0, calculate_variance=not self.fast).fit(
                self.pfs_t, cause, event_of_interest=2
            )
        times = aj.cumulative_density_.index.to_numpy(float)
        ci = (
            aj.confidence_interval_.to_numpy(float).T
            if not self.fast
            else np.full((2, len(times)), np.nan)
        )
        return times, aj.cumulative_density_.iloc[:, 0].to_numpy(float), ci

    def nrm_at(self, months: float) -> Estimate:
        times, incidence, ci = self.nrm_incidence
        i = np.searchsorted(times, months, side="right") - 1
        if i < 0:
            return Estimate(0.0, n=len(self.pfs_t))
        return Estimate(float(incidence[i]), float(ci[0, i]), float(ci[1, i]), len(self.pfs_t))

    @cached_property
    def cox_nrm(self) -> pd.DataFrame:
        """Cause-specific Cox model of non-relapse mortality (progression censors)."""
        c = self.cohort
        design = pd.DataFrame(
            {
                "age_65": np.asarray(c["age_years"] >= 65, float),
                "ecog_2": np.where(c["ecog"].isna(), np.nan, (c["ecog"] >= 2).astype(float)),
            }
        )
        death = (self.pfs_e == 1) & (c[PFS_EVENT_TYPE].to_numpy(object) == "death")
        return self._cox(design, self.pfs_t, death.astype(float))

    def landmark_ctdna(self, level: str) -> np.ndarray:
        at = self.pfs_t > DAY28_MONTHS
        return at & (self.cohort["ctdna_d28"].to_numpy(object) == level)

    def post_progression(self, who: np.ndarray) -> Estimate:
        c = self.cohort
        progressed = c["_progressed"].to_numpy(bool) & who
        return _km_median(
            c["_post_progression_months"].to_numpy(float)[progressed],
            c["_post_progression_event"].to_numpy(float)[progressed],
        )

    @cached_property
    def after_failure(self) -> dict[str, np.ndarray]:
        """Patients whose PFS event is a progression, with OS from it (os_months -
        pfs_months), PFS from it (second progression or death), treatment after it and PC-PI."""
        c = self.cohort
        who = (self.pfs_e == 1) & (c[PFS_EVENT_TYPE].to_numpy(object) == "progression")
        f = c.loc[who]
        score = pcpi.score(f)
        return {
            "frame": f,
            "os_t": (f[OS_MONTHS] - f[PFS_MONTHS]).to_numpy(float),
            "os_e": f[OS_EVENT].to_numpy(float),
            "pfs2_t": f["_pfs2_months"].to_numpy(float),
            "pfs2_e": f["_pfs2_event"].to_numpy(float),
            "treated": f["_treated_after_failure"].to_numpy(bool),
            "responder": np.isin(f["best_response"].to_numpy(object), ["CR", "PR"]),
            "months": f[PFS_MONTHS].to_numpy(float),
            "pcpi": score,
            "pcpi_group": pcpi.group(score),
        }

    def _failure_km(self, who: np.ndarray, statistic, outcome: str = "os") -> Estimate:
        a = self.after_failure
        return statistic(a[f"{outcome}_t"][who], a[f"{outcome}_e"][who])

    def pcpi_concordance(self) -> Estimate:
        """Harrell's C of the PC-PI score for OS from progression (ties in the score count a
        half), with a seeded bootstrap 95% interval (200 resamples)."""
        from lifelines.utils import concordance_index

        a = self.after_failure
        known = ~np.isnan(a["pcpi"])
        t, e, s = a["os_t"][known], a["os_e"][known], a["pcpi"][known]
        value = concordance_index(t, -s, e)
        if self.fast:
            return Estimate(float(value), n=int(known.sum()))
        rng = np.random.default_rng(0)
        draws = [
            concordance_index(t[i], -s[i], e[i])
            for i in (rng.integers(0, len(t), len(t)) for _ in range(200))
        ]
        lo, hi = np.quantile(draws, [0.025, 0.975])
        return Estimate(float(value), float(lo), float(hi), int(known.sum()))

    def failure_cox(self) -> pd.DataFrame:
        a, f = self.after_failure, self.after_failure["frame"]
        ldh = (f["ldh_at_progression_u_l"] / f["ldh_uln_at_progression_u_l"]).to_numpy(float)
        design = pd.DataFrame(
            {
                "failure_by_d30": (a["months"] <= 30 / 30.4375).astype(float),
                "ldh_above_uln": np.where(np.isnan(ldh), np.nan, (ldh > 1).astype(float)),
            }
        )
        return self._cox(design, a["os_t"], a["os_e"])

    def _failure_estimates(self) -> dict:
        a, all_failures = self.after_failure, np.ones(len(self.after_failure["os_t"]), bool)
        known = ~np.isnan(a["pcpi"])
        cd19 = a["frame"]["cd19_at_progression"].to_numpy(object)
        cd19_known = pd.notna(cd19)
        months = a["months"]
        day = 1 / 30.4375
        table = {
            "mc514_treated_pfs_from_progression": lambda: self._failure_km(
                a["treated"], _km_median, "pfs2"
            ),
            "mc514_treated_os_from_progression": lambda: self._failure_km(a["treated"], _km_median),
            "mc514_refractory_share_of_failures": lambda: _proportion(
                ~a["responder"], all_failures
            ),
            "mc514_treated_refractory": lambda: _proportion(a["treated"], ~a["responder"]),
            "mc514_treated_relapsed": lambda: _proportion(a["treated"], a["responder"]),
            "descart_failure_os_12m": lambda: self._failure_km(
                all_failures, lambda t, e: _km_survival(t, e, 12.0)
            ),
            "descart_failure_pfs_12m": lambda: self._failure_km(
                all_failures, lambda t, e: _km_survival(t, e, 12.0), "pfs2"
            ),
            "descart_failure_by_d30": lambda: _proportion(months <= 30 * day, all_failures),
            "descart_failure_d31_90": lambda: _proportion(
                (months > 30 * day) & (months <= 90 * day), all_failures
            ),
            "descart_failure_after_d90": lambda: _proportion(months > 90 * day, all_failures),
            "descart_failure_early_hr": lambda: self._hr(self.failure_cox(), "failure_by_d30"),
            "descart_failure_ldh": lambda: self._hr(self.failure_cox(), "ldh_above_uln"),
            "pcpi_c": self.pcpi_concordance,
            "review_cd19_negative_relapse": lambda: _proportion(cd19 == "negative", cd19_known),
            "cd20_cd19_negative_or_low": lambda: _proportion(
                np.isin(cd19, ["negative", "low"]), cd19_known
            ),
            "spiegel_cd19_negative_or_low": lambda: _proportion(
                np.isin(cd19, ["negative", "low"]), cd19_known
            ),
        }
        for name in pcpi.GROUP_NAMES:
            key = name.replace("-", "_")
            table[f"pcpi_share_{key}"] = lambda name=name: _proportion(
                a["pcpi_group"] == name, known
            )
            table[f"pcpi_median_{key}"] = lambda name=name: self._failure_km(
                a["pcpi_group"] == name, _km_median
            )
        return table

    def estimate(self, ev: Evidence) -> Estimate | None:
        """The simulated counterpart of one evidence entry (None when it is not simulated)."""
        c, all_ = self.cohort, self.all
        cr = self.best == "CR"
        lines = c["prior_lines"].to_numpy(float)
        ldh_ratio = (c["ldh_u_l"] / c["ldh_uln_u_l"]).to_numpy(float)
        bridged = (c["bridging_therapy"] != "none").to_numpy()
        tp53 = c["tp53_status"].to_numpy(object)
        cmax = c["cart_cmax_per_ul"].to_numpy(float)
        table = {
            "mc514_median_pfs": lambda: _km_median(self.pfs_t, self.pfs_e),
            "mc514_median_os": lambda: _km_median(self.os_t, self.os_e),
            "mc514_median_followup": lambda: _km_median(self.os_t, 1 - self.os_e),
            "durable_remission": lambda: _km_survival(self.pfs_t, self.pfs_e, 24.0),
            "mc514_orr": lambda: _proportion(self.responder, all_),
            "mc514_cr": lambda: _proportion(cr, all_),
            "mc514_bridging": lambda: _proportion(bridged, all_),
            "mc514_os_after_progression": lambda: self.post_progression(all_),
            "mc514_refractory_os_from_progression": lambda: self.post_progression(~self.responder),
            "mc514_relapsed_os_from_progression": lambda: self.post_progression(self.responder),
            "mc514_prior_lines_1": lambda: _proportion(lines == 1, all_),
            "mc514_prior_lines_2": lambda: _proportion(lines == 2, all_),
            "mc514_prior_lines_3_4": lambda: _proportion((lines >= 3) & (lines <= 4), all_),
            "mc514_prior_lines_5_6": lambda: _proportion((lines >= 5) & (lines <= 6), all_),
            "mc514_ldh_elevated": lambda: _proportion(ldh_ratio > 1, ~np.isnan(ldh_ratio)),
            "mc514_ipi_0_1": lambda: self._prop_known("ipi", [0, 1]),
            "mc514_ipi_2": lambda: self._prop_known("ipi", [2]),
            "mc514_ipi_3": lambda: self._prop_known("ipi", [3]),
            "mc514_ipi_4_5": lambda: self._prop_known("ipi", [4, 5]),
            "mc514_stage34": lambda: self._prop_known("stage", [3, 4]),
            "mc514_ecog01": lambda: _proportion(c["ecog"].isin([0, 1]).to_numpy(), all_),
            "mc514_age_median": lambda: _median(c["age_years"].to_numpy(float)),
            "mc514_bt_median_ipi": lambda: Estimate(
                float(c.loc[bridged, "ipi"].median() - c.loc[~bridged, "ipi"].median())
            ),
            "mc514_bt_median_ldh": lambda: Estimate(
                float(np.nanmedian(ldh_ratio[bridged]) / np.nanmedian(ldh_ratio[~bridged]))
            ),
            "mc514_hr_pfs_lines": lambda: self._hr(self.cox_pfs, "prior_lines"),
            "mc514_hr_pfs_bridging": lambda: self._hr(self.cox_pfs, "bridging"),
            "mc514_hr_pfs_ldh": lambda: self._hr(self.cox_pfs, "ldh_elevated"),
            "mc514_hr_pfs_ipi": lambda: self._hr(self.cox_pfs, "ipi"),
            "mc514_hr_pfs_age": lambda: self._hr(self.cox_pfs_age_stage, "age_years"),
            "mc514_hr_pfs_stage": lambda: self._hr(self.cox_pfs_age_stage, "stage"),
            "mc514_hr_os_lines": lambda: self._hr(self.cox_os, "prior_lines"),
            "mc514_hr_os_bridging": lambda: self._hr(self.cox_os, "bridging"),
            "mc514_hr_os_ipi": lambda: self._hr(self.cox_os, "ipi"),
            "review_tmtv_early_resistance": self.first_month_tmtv,
            "review_tp53_cr_altered": lambda: _proportion(cr, tp53 == "altered"),
            "review_tp53_cr_wild_type": lambda: _proportion(cr, tp53 == "wild_type"),
            "review_ctdna_d28_detectable": lambda: self._landmark_km("detectable", _km_median),
            "review_ctdna_d28_undetectable": lambda: self._landmark_km(
                "undetectable", lambda t, e: _km_survival(t, e, 24.0)
            ),
            "review_cmax_responders": lambda: _median(cmax[self.responder]),
            "review_cmax_non_responders": lambda: _median(cmax[~self.responder]),
            "review_early_cart_efs": lambda: self._km_at(lines <= 2, 12.0),
            "review_late_cart_efs": lambda: self._km_at(lines > 2, 12.0),
            "review_stage4_or": self.stage4_odds_ratio,
            "descart_nrm": lambda: self.nrm_at(12.0),
            "descart_nrm_early": lambda: self.nrm_at(DAY28_MONTHS),
            "meta_nrm_lbcl": lambda: self.nrm_at(24.0),
            "infection_hr_age65": lambda: self._hr(self.cox_nrm, "age_65"),
            "infection_hr_ecog2": lambda: self._hr(self.cox_nrm, "ecog_2"),
        }
        for name in (
            "chemotherapy",
            "imid",
            "radiotherapy",
            "polatuzumab_br",
            "btk_inhibitor",
            "steroids",
        ):
            table[f"mc514_hr_pfs_bt_{name}"] = lambda name=name: self._hr(
                self.cox_bridging_type, f"bt_{name}"
            )
        table.update(self._failure_estimates())
        if ev.method is None:
            return None
        if ev.id not in table:
            warnings.warn(
                f"no simulated counterpart for evidence {ev.id}", CalibrationWarning, stacklevel=2
            )
            return None
        return table[ev.id]()

    def _landmark_km(self, level: str, statistic) -> Estimate:
        who = self.landmark_ctdna(level)
        return statistic(self.pfs_t[who], self.pfs_e[who])

    def _km_at(self, who: np.ndarray, at: float) -> Estimate:
        return _km_survival(self.pfs_t[who], self.pfs_e[who], at)

    def stage4_odds_ratio(self) -> Estimate:
        stage = self.cohort["stage"].to_numpy(float)
        known = ~np.isnan(stage) & ((self.pfs_t >= 12) | (self.pfs_e == 1))
        event = (self.pfs_e == 1) & (self.pfs_t <= 12)
        table = np.array(
            [
                [np.sum(known & (stage == 4) & event), np.sum(known & (stage == 4) & ~event)],
                [np.sum(known & (stage < 4) & event), np.sum(known & (stage < 4) & ~event)],
            ]
        )
        res = stats.contingency.odds_ratio(table)
        ci = res.confidence_interval()
        return Estimate(float(res.statistic), float(ci.low), float(ci.high), int(known.sum()))


def passes(ev: Evidence, est: Estimate | None) -> bool | None:
    """True/False against the entry's tolerance; None when the entry has no check."""
    if ev.check is None or est is None:
        return None
    lo, hi = ev.acceptance_interval()
    return bool(np.isfinite(est.value) and lo <= est.value <= hi) or (
        "above" in ev.check and est.value > ev.check["above"]
    )


def calibration_rows(
    cohort: pd.DataFrame, evidence: dict[str, Evidence] | None = None
) -> list[Row]:
    """Estimate and check every evidence entry that has a simulation method."""
    evidence = evidence if evidence is not None else load_evidence()
    statistics = CohortStatistics(cohort)
    rows = []
    for ev in evidence.values():
        if ev.method is None:
            continue
        est = statistics.estimate(ev)
        rows.append(Row(ev, est, passes(ev, est)))
    return rows


def uses_log_scale(ev: Evidence) -> bool:
    return ev.unit in _LOG_SCALE_UNITS


def format_table(rows: list[Row], markdown: bool = False) -> str:
    """The calibration table: figure, published value and CI, simulated value and CI, result."""

    def num(x) -> str:
        if x is None or not np.isfinite(x):
            return "n.r." if x is not None and np.isinf(x) else "-"
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"

    header = [
        "figure",
        "source",
        "published (95% CI)",
        "tolerance",
        "simulated (95% CI)",
        "n",
        "result",
    ]
    lines = []
    for r in rows:
        ev, est = r.evidence, r.estimate
        pub = num(ev.value) + (f" ({num(ev.ci[0])}-{num(ev.ci[1])})" if ev.ci else "")
        sim = (
            "-"
            if est is None
            else num(est.value)
            + (f" ({num(est.low)}-{num(est.high)})" if np.isfinite(est.low) else "")
        )
        result = {True: "pass", False: "FAIL", None: "info"}[r.passed]
        lines.append(
            [
                ev.quantity,
                ev.source,
                pub,
                ev.describe_check(),
                sim,
                str(est.n) if est and est.n else "",
                result,
            ]
        )
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(x.replace("|", "/") for x in line) + " |" for line in lines]
        return "\n".join(out)
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    widths[0] = min(widths[0], 58)
    fmt = "  ".join(f"{{:{w}.{w}}}" if i == 0 else f"{{:{w}}}" for i, w in enumerate(widths))
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
        + [fmt.format(*line) for line in lines]
    )
