"""What developing one landmark's model produces (`LandmarkFit`), whichever strategy made it
(the hold-out of `training.train` or the resampling of `training.develop`), and whether the
cohort supports the two-cause outcome model (`typed_events`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.schema import PFS_EVENT, PFS_EVENT_TYPE

MIN_CAUSE_EVENTS = 5


@dataclass
class LandmarkFit:
    landmark: str
    models: dict
    metrics: dict
    champion: str
    reason: str
    n_train: int
    n_test: int
    X_test: pd.DataFrame = field(repr=False)
    time_test: np.ndarray = field(repr=False)
    event_test: np.ndarray = field(repr=False)
    thresholds_12m: tuple[float, float] = (0.0, 0.0)
    # How the model was developed: None for the hold-out strategy of `fit_landmark`, else
    # `training.develop`'s choices and optimism-corrected figures (then X_test is the
    # development data itself and n_test is 0).
    development: dict | None = None
    # Why the models are PFS-only (None when they are two-cause models: the cohort records
    # each event's cause) and the held-out patients' event types.
    causes_reason: str | None = None
    event_type_test: np.ndarray | None = field(default=None, repr=False)


def typed_events(frame: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """The PFS events' causes when the two-cause model can be fitted on `frame`, else None
    and why (never a guess about untyped events)."""
    event = frame[PFS_EVENT].to_numpy(float) == 1
    kind = (
        frame[PFS_EVENT_TYPE].to_numpy(object)
        if PFS_EVENT_TYPE in frame.columns
        else np.full(len(frame), None, dtype=object)
    )
    untyped = int((event & pd.isna(kind)).sum())
    if untyped:
        return None, (
            f"{untyped} of {int(event.sum())} PFS events have no pfs_event_type "
            "(progression or death): relapse and non-relapse mortality cannot be "
            "told apart, so scores carry the PFS risk only"
        )
    progressions = int((event & (kind == "progression")).sum())
    deaths = int((event & (kind == "death")).sum())
    if min(progressions, deaths) < MIN_CAUSE_EVENTS:
        return None, (
            f"{progressions} progressions and {deaths} deaths without progression: "
            f"a model of each cause needs at least {MIN_CAUSE_EVENTS} events of it, "
            "so scores carry the PFS risk only"
        )
    return kind, None


def event_types(frame: pd.DataFrame) -> np.ndarray | None:
    """The pfs_event_type column (None when the cohort has none)."""
    return frame[PFS_EVENT_TYPE].to_numpy(object) if PFS_EVENT_TYPE in frame.columns else None
