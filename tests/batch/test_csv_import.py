"""The import's canonical file is written as the canonical table's to_csv would write it."""

import io
from pathlib import Path

import numpy as np
import pandas as pd

from batch.csv_import import canonical_text
from batch.csv_scoring import write_rows
from features.mapping import apply_mapping, canonical_table, load_mapping, mapped_columns

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_canonical_text_writes_what_canonical_table_to_csv_would():
    mapping = load_mapping(EXAMPLES / "registry_mapping.yaml")
    raw = pd.read_csv(EXAMPLES / "registry_export.csv", dtype=str, keep_default_na=False)
    frame = apply_mapping(raw, mapping).frame
    columns = mapped_columns(mapping)
    # Values the example lacks: long and tiny numbers, a comma and a quote in a string.
    frame = frame.copy()
    frame.iloc[0, frame.columns.get_loc("tmtv_ml")] = 123456789.123456789
    frame.iloc[1, frame.columns.get_loc("tmtv_ml")] = 1e-7
    frame.iloc[2, frame.columns.get_loc("ldh_u_l")] = np.nan
    frame.iloc[3, frame.columns.get_loc("patient_id")] = 'SYN, "quoted"'
    ours = io.StringIO()
    write_rows(ours, canonical_text(frame, columns))
    expected = canonical_table(frame, columns).to_csv(
        header=False, index=False, lineterminator="\n"
    )
    assert len(frame) > 10 and ours.getvalue() == expected


def test_worker_processes_write_the_same_files_as_the_thread(tmp_path):
    from batch.csv_import import import_csv
    from batch.csv_scoring import errors_path_for

    mapping = load_mapping(EXAMPLES / "registry_mapping.yaml")
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.csv"
        summary = import_csv(
            EXAMPLES / "registry_export.csv", out, mapping, chunk_rows=100, workers=workers
        )
        outputs[workers] = (
            out.read_bytes(),
            errors_path_for(out).read_bytes(),
            summary.rows_read,
            summary.scored,
            summary.rejected,
        )
    assert outputs[1][2] == 300 and outputs[1][4] > 0
    assert outputs[2] == outputs[1]
