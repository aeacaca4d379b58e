import json
from importlib import resources

import pytest

from features.errors import EvidenceError
from features.schema import FIELDS
from synthetic.evidence import load_evidence
from synthetic.generator import load_params


def test_every_entry_has_a_known_source_and_a_usable_check():
    evidence = load_evidence()
    assert len(evidence) >= 40
    for ev in evidence.values():
        if ev.check:
            lo, hi = ev.acceptance_interval()
            assert lo <= hi
        if ev.required:
            assert ev.check and ev.method, ev.id


def test_every_predictor_cites_existing_evidence():
    evidence = load_evidence()
    for field in FIELDS:
        for ref in field.evidence:
            assert ref in evidence, f"{field.name} cites unknown evidence {ref}"


def test_figures_of_the_issue_are_in_the_table():
    evidence = load_evidence()
    for key, value in {
        "mc514_hr_pfs_lines": 1.47,
        "mc514_hr_pfs_bridging": 1.72,
        "mc514_hr_pfs_ldh": 1.65,
        "mc514_hr_pfs_ipi": 1.23,
        "mc514_median_pfs": 7.6,
        "review_cmax_responders": 22.06,
    }.items():
        assert evidence[key].value == value


def test_malformed_parameter_file(tmp_path):
    bad = tmp_path / "p.json"
    bad.write_text(json.dumps({"version": "x"}))
    with pytest.raises(EvidenceError, match="malformed"):
        load_params(bad)
    raw = json.loads((resources.files("synthetic") / "data" / "generator_params.json").read_text())
    del raw["fitted"]["time_scale"]
    bad.write_text(json.dumps(raw))
    from synthetic.generator import simulate

    # A parameter the file lacks (an older generator's file) is the shipped one, and said so.
    loaded = load_params(bad)
    assert loaded.filled_from_defaults == ("time_scale",)
    assert len(simulate(10, 1, loaded)) == 10
