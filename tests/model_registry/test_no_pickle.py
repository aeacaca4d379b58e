"""Artifacts are ONNX, JSON, Markdown and PNG only, and loading a version, scoring with it
and reading a cohort CSV never unpickle anything."""

import pickle

import pytest

from batch.csv_scoring import score_csv
from features.schema import COLUMNS
from features.validate import check_record
from model_registry.scoring import ScoringModel
from training.cohort import read_cohort

ALLOWED = {".onnx", ".json", ".md", ".png"}


def test_a_version_holds_only_onnx_json_markdown_and_png(trained):
    registry, version, _ = trained
    files = [p for p in (registry.root / "versions" / version).rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= ALLOWED
    for p in files:
        assert not p.read_bytes().startswith(b"\x80"), f"{p.name} looks like a pickle"


def test_loading_scoring_and_reading_cohorts_never_unpickle(
    trained, small_cohort, tmp_path, monkeypatch
):
    registry, version, _ = trained
    cohort_csv = tmp_path / "cohort.csv"
    frame = small_cohort.frame
    frame[[c for c in frame.columns if c in COLUMNS]].head(200).to_csv(cohort_csv, index=False)

    class Refused(pickle.Unpickler):
        def __init__(self, *args, **kwargs):
            raise AssertionError("an Unpickler was created")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", Refused)
    try:
        import joblib

        monkeypatch.setattr(joblib, "load", refuse)
    except ImportError:
        pass
    model = ScoringModel(registry.load(version))
    assert 0 <= model.score_record(check_record({"age_years": 60}), "auto")["risk_12m"] <= 1
    assert score_csv(cohort_csv, tmp_path / "scored.csv", model).scored > 0
    assert len(read_cohort(cohort_csv).frame) == 200
    with pytest.raises(AssertionError):
        pickle.loads(pickle.dumps(1))  # the guard itself works
