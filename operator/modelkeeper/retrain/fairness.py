"""Group fairness of a model's decisions: demographic parity and equal opportunity differences.

Pure, standard library only, so that a trainer computes the figures the fairness gate
bounds from plain lists (docs/writing-trainers.md). The definitions are fairlearn's
`demographic_parity_difference` and `equal_opportunity_difference` with their default
method ("between_groups"): the largest group rate minus the smallest. They differ in one
case only: where a group has no positive label its true positive rate is undefined, and
the equal opportunity difference is None here (fairlearn counts such a rate as 0).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from modelkeeper.api.model import Fairness

DIGITS = 6  # figures are reported as metrics are: six decimal places


def _rates(hits: Sequence[bool], groups: Sequence[Hashable]) -> dict[Hashable, float]:
    """Each group's share of True in `hits`."""
    counts: dict[Hashable, list[int]] = {}
    for hit, group in zip(hits, groups, strict=True):
        seen = counts.setdefault(group, [0, 0])
        seen[0] += int(hit)
        seen[1] += 1
    return {group: positive / total for group, (positive, total) in counts.items()}


def _spread(rates: dict[Hashable, float]) -> float:
    return max(rates.values()) - min(rates.values()) if rates else 0.0


def demographic_parity_difference(decisions: Sequence[bool], groups: Sequence[Hashable]) -> float:
    """The largest difference between two groups' shares of positive decisions."""
    return _spread(_rates(decisions, groups))


def equal_opportunity_difference(
    decisions: Sequence[bool], labels: Sequence[bool], groups: Sequence[Hashable]
) -> float | None:
    """The largest difference between two groups' true positive rates: the share of positive
    decisions among the rows whose label is positive. None when a group has no positive label.
    """
    if len(decisions) != len(labels):
        raise ValueError(f"{len(decisions)} decisions but {len(labels)} labels")
    positives = [
        (decision, group)
        for decision, label, group in zip(decisions, labels, groups, strict=True)
        if label
    ]
    rates = _rates([decision for decision, _ in positives], [group for _, group in positives])
    if set(rates) != set(groups):
        return None
    return _spread(rates)


def measure(
    attribute: str,
    positive: str,
    decisions: Sequence[bool],
    labels: Sequence[bool],
    groups: Sequence[Hashable],
) -> Fairness:
    """Both figures over `attribute`, as a trainer reports them; `positive` says what counts as
    a positive decision."""
    opportunity = equal_opportunity_difference(decisions, labels, groups)
    return Fairness(
        attribute=attribute,
        positive=positive,
        demographic_parity_difference=round(
            demographic_parity_difference(decisions, groups), DIGITS
        ),
        equal_opportunity_difference=None if opportunity is None else round(opportunity, DIGITS),
    )
