"""`mapping draft` and `mapping check`: a draft marks every guess, is refused until each is
confirmed, and, once confirmed, imports the shipped example as the hand-written mapping does."""

import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from features.drafting import draft_mapping
from features.mapping import MappingError, parse_mapping
from features.readers import open_export
from relapse_risk.cli import app

sys.path.insert(0, str(Path(__file__).parent))
from test_readers import _write  # noqa: E402  (the formats' writers)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EXPORT = EXAMPLES / "registry_export.csv"


def _confirmed(text: str) -> dict:
    """What a user has after checking every guess and agreeing with it."""
    raw = yaml.safe_load(text)
    raw.pop("confirm")
    return raw


def _draft(path: Path) -> str:
    export = open_export(path)
    return draft_mapping(export, export.read())


def test_every_guess_is_marked_and_the_draft_is_refused_until_confirmed():
    text = _draft(EXPORT)
    raw = yaml.safe_load(text)
    with pytest.raises(
        MappingError,
        match=r"confirm: \d+ guesses of the draft not yet "
        r"confirmed",
    ):
        parse_mapping(raw)
    # One confirmation per mapped column, date, unit and code list, and the file's dialect.
    guesses = (
        len(raw["columns"]) + len(raw["dates"]) + len(raw["units"]) + len(raw["values"]) + 1 + 1
    )  # + missing tokens + file
    assert len(raw["confirm"]) == guesses
    for section in ("columns", "units", "dates"):
        block = text.split(f"\n{section}:\n", 1)[1].split("\n\n", 1)[0]
        assert all("# CONFIRM" in line for line in block.splitlines()), section


def test_the_confirmed_draft_imports_the_example_as_the_hand_mapping_does(tmp_path):
    """Same columns, same accepted rows and values; the one difference is a code the draft
    cannot know (TP53 'pending'), which it proposes as unknown and marks."""
    draft = tmp_path / "draft.yaml"
    draft.write_text(yaml.safe_dump(_confirmed(_draft(EXPORT))))
    hand, drafted = tmp_path / "hand.csv", tmp_path / "drafted.csv"
    runner = CliRunner()
    for mapping, out in ((EXAMPLES / "registry_mapping.yaml", hand), (draft, drafted)):
        result = runner.invoke(
            app, ["import", str(EXPORT), "--mapping", str(mapping), "--out", str(out), "--quiet"]
        )
        assert result.exit_code == 1, result.output  # the example's planted bad rows
    ours = pd.read_csv(drafted, dtype=str, keep_default_na=False)
    theirs = pd.read_csv(hand, dtype=str, keep_default_na=False)
    assert list(ours.columns) == list(theirs.columns)
    hand_errors = pd.read_csv(tmp_path / "hand.errors.csv", dtype=str)
    pending = hand_errors.loc[hand_errors["value"] == "pending", "row"].astype(int).tolist()
    assert pending and len(ours) == len(theirs) + len(pending)
    kept = ours["patient_id"].isin(theirs["patient_id"])
    pd.testing.assert_frame_equal(ours[kept].reset_index(drop=True), theirs)
    assert (ours.loc[~kept, "tp53_status"] == "").all()


@pytest.mark.parametrize("kind", ["dialect.csv", "xlsx", "sav"])
def test_a_draft_of_each_format_imports_once_confirmed(tmp_path, kind):
    from test_readers import _safe  # noqa: PLC0415

    export = pd.read_csv(EXPORT, dtype=str, keep_default_na=False).rename(columns=_safe)
    export["centre"] = "Besançon"  # (an ASCII file is UTF-8 whatever wrote it)
    path = _write(kind, export, tmp_path / f"export.{kind}")
    text = _draft(path)
    if kind == "dialect.csv":
        assert 'delimiter: ";"' in text and 'decimal: ","' in text and "cp1252" in text
    if kind == "sav":
        assert "stored code 4" in text  # the value labels are the codes offered
    mapping = parse_mapping(_confirmed(text))
    assert {"ecog", "stage", "tp53_status", "ldh_u_l"} <= set(mapping.columns)
    assert mapping.units["ldh_u_l"] == "ukat/L" and mapping.dates["infusion"] == "infusion_date"
    from batch.csv_import import import_csv

    summary = import_csv(path, tmp_path / "out.csv", mapping)
    assert summary.rows_read == 300 and summary.scored >= 295


def test_mapping_check_reports_what_would_be_rejected_and_writes_nothing(tmp_path):
    draft = tmp_path / "draft.yaml"
    result = CliRunner().invoke(app, ["mapping", "draft", str(EXPORT), "--out", str(draft)])
    assert result.exit_code == 0, result.output
    assert "guesses to confirm" in result.output
    before = sorted(p.name for p in tmp_path.iterdir())
    check = CliRunner().invoke(app, ["mapping", "check", str(draft), str(EXPORT)])
    assert check.exit_code == 1
    assert re.search(r"rows 300: 298 would be accepted, 2 rejected", check.output)
    assert "Last contact: is not a date in the declared format %d/%m/%Y (rows 12)" in check.output
    assert (
        "not yet confirmed" in check.output
        and "export columns the mapping does not read: Centre" in check.output
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    refused = CliRunner().invoke(
        app, ["import", str(EXPORT), "--mapping", str(draft), "--out", str(tmp_path / "c.csv")]
    )
    assert refused.exit_code == 2 and "not yet confirmed" in refused.output
    assert not (tmp_path / "c.csv").exists()
    again = CliRunner().invoke(app, ["mapping", "draft", str(EXPORT), "--out", str(draft)])
    assert again.exit_code == 2 and "never overwrites" in again.output


def test_the_hand_mapping_checks_clean_but_for_the_planted_rows():
    check = CliRunner().invoke(
        app, ["mapping", "check", str(EXAMPLES / "registry_mapping.yaml"), str(EXPORT)]
    )
    assert check.exit_code == 1 and "rows 300: 297 would be accepted, 3 rejected" in check.output
    assert "TP53: code not in the mapping's values for tp53_status" in check.output
    assert "not yet confirmed" not in check.output


def test_a_draft_of_an_ambiguous_date_says_so(tmp_path):
    path = tmp_path / "us.csv"
    path.write_text(
        "Patient ID,ECOG,Infusion date,Date of birth\n"
        "a,1,03/04/2021,01/02/1960\nb,0,05/06/2020,07/08/1955\n"
    )
    text = _draft(path)
    assert "day and month are ambiguous" in text
