"""The gate: a new version against the champion on one holdout, and within its fairness bounds.

Pure. A fair comparison measures both versions on the same labelled data, so the trainer,
which has that data, measures both: its result carries the new version's `metrics`, the
champion's `championMetrics` and the `holdout` they were measured on
(docs/writing-trainers.md). The figures in the champion's spec were measured on other data
when it was trained and are never compared. `evaluate` decides; a missing figure, an unnamed
holdout or a champion that changed while the run trained fails the gate, so that a version
is never approved on a comparison nobody made.
"""

from __future__ import annotations

from modelkeeper.api.model import DataRef, Fairness, FairnessVerdict, GateResult, ModelResource
from modelkeeper.api.retrainpolicy import FairnessBounds, Gate, GateDirection
from modelkeeper.retrain.result import TrainingResult


def holdout_name(holdout: DataRef) -> str:
    """A holdout as a message names it: its file name and the start of its digest."""
    name = holdout.uri.rstrip("/").rsplit("/", 1)[-1]
    return f"{name} (sha256 {holdout.sha256[:12]})" if holdout.sha256 else name


def _comparison(gate: Gate, value: float, champion_value: float, where: str) -> tuple[bool, str]:
    higher = gate.direction is GateDirection.HIGHER_IS_BETTER
    improvement = value - champion_value if higher else champion_value - value
    passed = improvement >= gate.min_improvement
    return passed, (
        f"{gate.metric} {value:.6g} against the champion's {champion_value:.6g} {where}: "
        f"improvement {improvement:.6g} {'>=' if passed else '<'} the required "
        f"{gate.min_improvement:.6g} ({gate.direction.value})"
    )


def judge_fairness(bounds: FairnessBounds, measured: Fairness | None) -> FairnessVerdict:
    """The trainer's fairness figures against the policy's bounds: each bounded figure must be
    measured over the bounded attribute and lie within its bound."""
    verdict = FairnessVerdict(
        attribute=bounds.attribute,
        max_demographic_parity_difference=bounds.max_demographic_parity_difference,
        max_equal_opportunity_difference=bounds.max_equal_opportunity_difference,
        passed=False,
    )
    if measured is None or measured.attribute != bounds.attribute:
        reported = "none" if measured is None else f"over {measured.attribute} only"
        return verdict.model_copy(
            update={
                "message": f"the result has no fairness figures over {bounds.attribute} "
                f"({reported})"
            }
        )
    checks = []
    passed = True
    for label, bound, value in (
        (
            "demographic parity difference",
            bounds.max_demographic_parity_difference,
            measured.demographic_parity_difference,
        ),
        (
            "equal opportunity difference",
            bounds.max_equal_opportunity_difference,
            measured.equal_opportunity_difference,
        ),
    ):
        if bound is None:
            continue
        if value is None:
            passed = False
            checks.append(f"{label} not measured (bound {bound:.6g})")
            continue
        within = value <= bound
        passed = passed and within
        checks.append(f"{label} {value:.6g} {'<=' if within else '>'} {bound:.6g}")
    decision = f" ({measured.positive})" if measured.positive else ""
    return verdict.model_copy(
        update={
            "positive": measured.positive,
            "demographic_parity_difference": measured.demographic_parity_difference,
            "equal_opportunity_difference": measured.equal_opportunity_difference,
            "passed": passed,
            "message": f"fairness over {bounds.attribute}{decision}: " + ", ".join(checks),
        }
    )


def evaluate(
    gate: Gate | None,
    result: TrainingResult,
    champion: ModelResource | None,
    measured: str | None,
) -> GateResult | None:
    """The new version against the champion by the gate; None without a gate.

    `measured` is the champion's version when the run started, the one the trainer measured.
    """
    if gate is None:
        return None
    fairness = None if gate.fairness is None else judge_fairness(gate.fairness, result.fairness)
    value = result.metrics.get(gate.metric)
    champion_version = champion.spec.version if champion is not None else None
    champion_value = result.champion_metrics.get(gate.metric)
    holdout = result.holdout
    where = f"on the same holdout {holdout_name(holdout)}" if holdout is not None else ""
    compared = None
    if value is None:
        passed, message = False, f"the result has no metric {gate.metric}"
    elif champion is None:
        passed, message = (
            True,
            f"{gate.metric} {value:.6g}; the family has no champion to compare with",
        )
    elif measured != champion.spec.version:
        passed, message = (
            False,
            (
                f"the champion is version {champion.spec.version} now, but the run measured "
                f"{measured or 'none'} (the champion when it started); retrain to compare them "
                "on one holdout"
            ),
        )
    elif holdout is None or champion_value is None:
        passed, message = (
            False,
            (
                f"the result has no championMetrics.{gate.metric} with the holdout it was measured "
                f"on: the trainer measures champion {champion.spec.version} on its own holdout"
            ),
        )
    else:
        compared = champion_value
        passed, message = _comparison(gate, value, champion_value, where)
    if fairness is not None:
        passed = passed and fairness.passed
        message = f"{message}; {fairness.message}"
    return GateResult(
        metric=gate.metric,
        value=value if value is not None else 0.0,
        champion=champion_version,
        champion_value=compared,
        holdout=holdout,
        fairness=fairness,
        passed=passed,
        message=message,
    )
