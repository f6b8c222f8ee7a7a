"""The drift tests' reference profile, live counts and one evaluation of them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from modelkeeper.api.driftmonitor import (
    DriftMonitorSpec,
    DriftMonitorStatus,
    Level,
)
from modelkeeper.drift.queries import FeatureCounts, Feedback, Observed
from modelkeeper.drift.state import (
    Evaluation,
    evaluate,
)
from modelkeeper.profile import CategoricalProfile, NumericProfile, Profile

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

AMOUNT_REFERENCE = [10, 1000, 1000, 990, 0]
COUNTRY_REFERENCE = [600, 300, 100]
PROFILE = Profile(
    rows=3000,
    features=[
        NumericProfile(
            name="amount",
            edges=[0.0, 1.0, 2.0, 3.0],
            counts=AMOUNT_REFERENCE,
            missing=0,
            mean=1.5,
            std=0.8,
        ),
        CategoricalProfile(
            name="country", categories=["de", "fr"], counts=COUNTRY_REFERENCE, missing=0
        ),
    ],
)
AMOUNT_SAME = [2, 100, 100, 98, 0]
AMOUNT_SHIFTED = [0, 10, 40, 150, 100]
COUNTRY_SAME = [60, 30, 10]
FEEDBACK = Feedback(rows=400, correct=300, absolute_error=200, squared_error=400)


def spec(**fields: Any) -> DriftMonitorSpec:
    return DriftMonitorSpec.model_validate({"deployment": "fraud", **fields})


def observed(
    amount: Sequence[float] | None = AMOUNT_SAME,
    country: Sequence[float] | None = COUNTRY_SAME,
    **more: Any,
) -> Observed:
    features = {
        name: FeatureCounts(np.asarray(bins, dtype=np.float64))
        for name, bins in (("amount", amount), ("country", country))
        if bins is not None
    }
    return Observed(features=features, **more)


def run(
    monitor: DriftMonitorSpec,
    seen: Observed,
    previous: DriftMonitorStatus | None = None,
    version: str = "v1",
    at: datetime = START,
    metrics: dict[str, float] | None = None,
) -> Evaluation:
    return evaluate(
        monitor, previous or DriftMonitorStatus(), PROFILE, version, seen, at, 4, metrics
    )


def levels(evaluation: Evaluation) -> dict[str, Level]:
    return {feature.name: feature.level for feature in evaluation.status.features}
