"""One record scored by the serving path (check_record -> score_record) equals the same
patient scored by the table path (validate_frame -> score), whatever is missing."""

import numpy as np
import pandas as pd
import pytest

from features.schema import COLUMNS, OUTCOMES, PROGRESSION_PREDICTORS
from features.validate import check_record, validate_frame
from model_registry.scoring import ScoringModel


@pytest.fixture(scope="module")
def model(trained):
    registry, version, _ = trained
    return ScoringModel(registry.load(version))


@pytest.fixture(scope="module")
def patients(small_cohort):
    """300 cohort patients as JSON-like records, with values blanked at random."""
    rng = np.random.default_rng(7)
    # The PFS landmarks' patients: the fields at progression are left out (tests/training/
    # test_progression.py scores those).
    frame = small_cohort.frame[
        [
            c
            for c in COLUMNS
            if c not in OUTCOMES and c not in PROGRESSION_PREDICTORS and c in small_cohort.frame
        ]
    ].head(300)
    records = []
    for row in frame.to_dict("records"):
        record = {
            k: (None if (isinstance(v, float) and np.isnan(v)) else v) for k, v in row.items()
        }
        for name in rng.choice(list(record), size=rng.integers(0, 5), replace=False):
            # IPI/aaIPI stay (blanking a component never contradicts them); LDH and its
            # upper limit go together (one without the other is an input error).
            for blank in {
                "ldh_u_l": ("ldh_u_l", "ldh_uln_u_l"),
                "ldh_uln_u_l": ("ldh_u_l", "ldh_uln_u_l"),
                "ipi": (),
                "aaipi": (),
            }.get(name, (name,)):
                record[blank] = None
        records.append(record)
    return records


@pytest.mark.parametrize("landmark", ["auto", "infusion", "day28"])
def test_record_and_table_paths_give_the_same_score(model, patients, landmark):
    table = validate_frame(pd.DataFrame(patients, dtype=object), allow_outcomes=False)
    assert table.errors.empty
    scored = model.score(table.frame, landmark)
    for i, record in enumerate(patients):
        one = model.score_record(check_record(record), landmark)
        row = scored.iloc[i]
        for col in ("risk_6m", "risk_12m", "risk_24m"):
            assert one[col] == pytest.approx(row[col], rel=1e-6), (i, col)
        assert (one["risk_group"], one["landmark"]) == (row["risk_group"], row["landmark"])
        assert one["missing_predictors"] == list(row["missing_predictors"]), i
        assert list(one["contributions"]) == list(row["contributions"])
        np.testing.assert_allclose(
            list(one["contributions"].values()),
            list(row["contributions"].values()),
            rtol=1e-5,
            atol=1e-6,
        )


def test_contributions_are_the_graph_columns_summed_per_predictor(model, patients):
    from features.encode import encode_record

    for landmark, lm in model.landmarks.items():
        typed = check_record(patients[0])
        features = np.asarray([encode_record(typed, landmark)], dtype=np.float32)
        if lm.order is not None:
            features = features[:, lm.order]
        per_column = lm.run_array(features, with_contributions=True)["contributions"][0]
        expected: dict[str, float] = {}
        for name, value in zip(lm.feature_names, per_column):
            expected[lm.sources[name]] = expected.get(lm.sources[name], 0.0) + float(value)
        got = model.score_record(typed, landmark)["contributions"]
        assert list(got) == list(expected)
        assert list(got.values()) == list(expected.values())  # the same sums, bit for bit
