"""Evaluation: a registered version on fresh synthetic cohorts beside the oracle (`evaluate`)
and on a user's cohort (external validation, `validate`)."""
