"""The vocabularies a user chooses from, each defined once: imported by the modules that act
on them and by the CLI, which lists them in `--help`. This module imports nothing, so the
command line starts without loading the model code."""

# How `train --cohort` and `retrain` develop a model (training/develop.py).
STRATEGIES = ("auto", "holdout", "resampling")
# Below this many patients, "auto" develops by resampling rather than a hold-out.
RESAMPLING_BELOW_N = 5000
# How `recalibrate` updates a model (training/updating/recalibrate.py).
RECALIBRATION_METHODS = ("intercept", "slope", "horizons", "auto")


def resolve_strategy(strategy: str, n_patients: int) -> str:
    """ "holdout" or "resampling": "auto" takes resampling below `RESAMPLING_BELOW_N`."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy == "auto":
        return "resampling" if n_patients < RESAMPLING_BELOW_N else "holdout"
    return strategy
