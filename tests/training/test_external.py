"""External validation (`relapse-risk validate`): figures against independent
implementations, miscalibration detected on a shifted population, the report and the CLI."""

import json

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index
from typer.testing import CliRunner

from features.encode import encode
from features.validate import validate_frame
from model_registry.scoring import ScoringModel
from relapse_risk.cli import app
from synthetic.generator import canonical, load_params, simulate
from training.cohort import landmark_mask
from training.evaluation.external_validation import (
    ValidationError,
    case_mix,
    point_figures,
    validate_landmark,
)
from training.metrics import observed_risk

N = 800  # patients per validation cohort: O/E at 12 months has a bootstrap SE of about 0.027


def _cohort(seed: int, cure_shift: float = 0.0) -> pd.DataFrame:
    """A cohort of the development population, or (cure_shift < 0) one whose patients do
    worse than their predictors say: fewer durable remissions at the same covariates."""
    p = load_params()
    params = p.with_overrides(cure_logit=p.value("cure_logit") + cure_shift)
    return validate_frame(
        canonical(simulate(N, seed, params)), require_outcomes=True, nan_is_missing=True
    ).frame


@pytest.fixture(scope="module")
def scoring(trained):
    registry, version, _ = trained
    return ScoringModel(registry.load(version))


def test_figures_equal_lifelines_where_it_computes_them(scoring):
    frame = _cohort(11)
    part = frame.loc[landmark_mask(frame, "infusion")]
    model = scoring.landmarks["infusion"]
    X = encode(part, "infusion")
    t, e = part["pfs_months"].to_numpy(float), part["pfs_event"].to_numpy(float)
    lp, risk = model.linear_predictor(X), model.predict_risk(X)
    grid = np.arange(1.0, 25.0)
    figures = point_figures(lp, risk, model.predict_survival(X, grid), grid, t, e)
    # lifelines ranks predicted survival times: a higher hazard is a shorter time.
    assert figures["harrell_c"] == pytest.approx(concordance_index(t, -lp, e), abs=1e-9)
    for h in (6.0, 12.0, 24.0):
        km = KaplanMeierFitter().fit(t, e).survival_function_at_times(h).iloc[0]
        assert observed_risk(t, e, h) == pytest.approx(1 - km, abs=1e-12)
        assert figures[f"observed_{int(h)}m"] == pytest.approx(1 - km, abs=1e-12)
    assert figures["observed_expected_12m"] == pytest.approx(
        (1 - KaplanMeierFitter().fit(t, e).survival_function_at_times(12.0).iloc[0])
        / risk[:, 1].mean()
    )


def test_figures_without_the_curves_are_the_same_figures(scoring):
    """Validation by centre asks for the figures only: the same resamples, the same
    estimates and intervals, no curves."""
    frame = _cohort(11)
    model = scoring.landmarks["infusion"]
    full = validate_landmark(model, frame, "infusion", n_boot=20, seed=3)
    bare = validate_landmark(model, frame, "infusion", n_boot=20, seed=3, curves=False)
    assert bare.figures == full.figures
    assert full.curves and full.decision and bare.curves == {} and bare.decision == {}


def test_miscalibration_on_a_shifted_population_is_detected(scoring):
    """Same population: the 95% intervals of O/E and the calibration intercept at 12 months
    hold 1 and 0. A population with fewer durable remissions (cure logit - 1, O/E about 1.11,
    four bootstrap SEs above 1 at n = 800): both intervals exclude them, above."""
    model = scoring.landmarks["infusion"]
    same = validate_landmark(model, _cohort(4242), "infusion", n_boot=60, seed=1).figures
    shifted = validate_landmark(model, _cohort(4242, -1.0), "infusion", n_boot=60, seed=1).figures
    oe, intercept = "observed_expected_12m", "calibration_intercept_12m"
    assert same[oe]["low"] < 1 < same[oe]["high"]
    assert same[intercept]["low"] < 0 < same[intercept]["high"]
    assert shifted[oe]["low"] > 1 and shifted[intercept]["low"] > 0
    # Ranking is untouched by a shift in baseline risk: discrimination stays where it was.
    assert abs(shifted["harrell_c"]["estimate"] - same["harrell_c"]["estimate"]) < 0.03
    for figures in (same, shifted):
        for name, f in figures.items():
            if np.isfinite(f["estimate"]):
                assert f["low"] <= f["high"], name


def test_case_mix_standardised_differences():
    development = pd.DataFrame(
        {
            "age_years": [50.0, 60.0, 70.0, np.nan],
            "bridging_therapy": ["none", "none", "imid", None],
        }
    )
    validation = pd.DataFrame(
        {"age_years": [60.0, 70.0, 80.0], "bridging_therapy": ["imid", "imid", "none"]}
    )
    for frame in (development, validation):
        for column in (
            "ecog",
            "stage",
            "extranodal_sites",
            "ldh_u_l",
            "ldh_uln_u_l",
            "ipi",
            "aaipi",
            "tmtv_ml",
            "tp53_status",
            "prior_lines",
            "ctdna_d28",
            "cart_cmax_per_ul",
        ):
            frame[column] = np.nan
    mix = case_mix(development, validation).set_index("predictor")
    age = mix.loc["age_years (mean)"]
    assert age["smd"] == pytest.approx(10 / 10)  # both SDs are 10
    assert age["missing_development"] == 0.25 and age["missing_validation"] == 0
    imid = mix.loc["bridging_therapy = imid"]
    a, b = np.array([0, 0, 1.0]), np.array([1, 1, 0.0])
    assert imid["smd"] == pytest.approx(
        (b.mean() - a.mean()) / np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    )


def test_too_few_events_is_a_clear_error(scoring):
    frame = _cohort(12).iloc[:15]
    with pytest.raises(ValidationError, match="at least 10 events"):
        validate_landmark(scoring.landmarks["infusion"], frame, "infusion", n_boot=20)


def test_validate_command_writes_the_report(trained, tmp_path):
    registry, version, _ = trained
    frame = canonical(simulate(400, 77))
    path = tmp_path / "cohort.csv"
    frame.to_csv(path, index=False)
    with open(path, "a") as handle:  # one invalid row: reported, not used
        handle.write("," * (len(frame.columns) - 1) + "\n")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "validate",
            "--cohort",
            str(path),
            "--registry",
            str(registry.root),
            "--out",
            str(out),
            "--bootstrap",
            "20",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 of 401 rows rejected" in result.output
    assert {p.name for p in out.iterdir()} == {
        "validation.md",
        "validation.json",
        "infusion_calibration.png",
        "day28_calibration.png",
        "infusion_decision_curve.png",
        "day28_decision_curve.png",
        "risk_distribution.png",
    }
    report = json.loads((out / "validation.json").read_text())  # strict JSON: no NaN
    assert report["version"] == version and report["bootstrap_resamples"] == 20
    infusion = report["landmarks"]["infusion"]
    assert infusion["n"] == 400
    assert set(infusion["calibration_curves"]) == {"6m", "12m", "24m"}
    assert len(report["case_mix"]) > 20  # the development cohort was rebuilt and compared
    markdown = (out / "validation.md").read_text()
    assert "## Landmark: day28" in markdown and "observed/expected 12 months" in markdown
    assert "Case-mix against the development cohort" in markdown
    assert (out / "infusion_calibration.png").read_bytes()[:4] == b"\x89PNG"


def test_validate_by_centre_reports_each_group_and_their_spread(trained, tmp_path):
    """Four centres of 300 patients and one of 12: the four are validated and pooled (a
    random-effects summary with a prediction interval wider than its confidence interval), the
    small one is listed as too small, not dropped; the centre column is passed through."""
    registry, _, _ = trained
    frame = canonical(simulate(1212, 78))
    frame.insert(1, "centre", ["A", "B", "C", "D"] * 300 + ["tiny"] * 12)
    path = tmp_path / "centres.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "by"
    result = CliRunner().invoke(
        app,
        [
            "validate",
            "--cohort",
            str(path),
            "--registry",
            str(registry.root),
            "--out",
            str(out),
            "--bootstrap",
            "40",
            "--by",
            "centre",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "centre tiny: too small to estimate" in result.output
    report = json.loads((out / "validation.json").read_text())
    groups = [g for g in report["by"]["groups"] if g["landmark"] == "infusion"]
    assert [g["group"] for g in groups] == ["A", "B", "C", "D", "tiny"]
    assert [g["n"] for g in groups] == [300, 300, 300, 300, 12]
    assert groups[-1]["figures"] is None and "too small" in groups[-1]["reason"]
    pooled = report["by"]["pooled"]["infusion"]["harrell_c"]
    assert pooled["k"] == 4
    assert (
        pooled["prediction_low"]
        <= pooled["low"]
        < pooled["estimate"]
        < pooled["high"]
        <= pooled["prediction_high"]
    )
    # The pooled C lies within the range of the centres' own.
    cs = [g["figures"]["harrell_c"]["estimate"] for g in groups[:4]]
    assert min(cs) <= pooled["estimate"] <= max(cs)
    assert "## By centre" in (out / "validation.md").read_text()
    assert (out / "infusion_by_centre_forest.png").read_bytes()[:4] == b"\x89PNG"
    missing = CliRunner().invoke(
        app,
        [
            "validate",
            "--cohort",
            str(path),
            "--registry",
            str(registry.root),
            "--out",
            str(out),
            "--by",
            "site",
        ],
    )
    assert missing.exit_code == 2 and "site" in missing.output
