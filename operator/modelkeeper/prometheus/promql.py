"""PromQL written and read: label selectors, windowed sums and shares, answers as samples.

Both users of Prometheus build on these: the rollout analysis (`analysis.templates`)
and the drift queries (`drift.queries`). Pure: strings in, strings out; the samples of
an answer in, one number out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class Sample:
    """One series of an instant query's answer."""

    labels: Mapping[str, str]
    value: float


Results = Sequence[Sequence[Sample]]
"""The answers to a measure's queries, in the order of its queries."""


class MeasureError(ValueError):
    """The queries answered, but not in a shape the measure can use."""


class TemplateError(ValueError):
    """A PromQL check's query cannot be rendered."""


def escape(value: str) -> str:
    """A label value as a PromQL double-quoted string's content."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def duration(window: timedelta) -> str:
    """A Prometheus range duration: whole seconds, rounded up, at least one."""
    seconds = -(-window // timedelta(seconds=1))
    return f"{max(seconds, 1)}s"


def selector(metric: str, labels: Mapping[str, str], *matchers: str) -> str:
    """`metric{label="value",...,matcher,...}` with the values escaped."""
    equal = [f'{name}="{escape(value)}"' for name, value in labels.items()]
    return f"{metric}{{{','.join([*equal, *matchers])}}}"


def total(series: str, window: str) -> str:
    return f"sum(increase({series}[{window}]))"


def share(part: str, whole: str, window: str) -> str:
    """part's increase over whole's; a part with no series yet counts as zero."""
    return f"({total(part, window)} or vector(0)) / {total(whole, window)}"


def counted_since(series: str, window: str) -> str:
    """What a counter counted since `window` ago, exactly: the difference of two samples.

    increase() extrapolates to the window's edges, which is right for a rate but makes a
    count since a known moment (a shadow's start) inexact: a series born inside the window
    is extrapolated differently from one that was already there. A series that did not
    exist `window` ago counted from zero. (A counter reset inside the window is not
    corrected; the router's counters reset only when it restarts.)
    """
    return f"sum({series} - ({series} offset {window} or {series} * 0))"


def share_since(part: str, whole: str, window: str) -> str:
    """part's count over whole's since `window` ago; a part with no series counts as zero."""
    return f"({counted_since(part, window)} or vector(0)) / {counted_since(whole, window)}"


def quantile(q: float, buckets: str, window: str) -> str:
    return f"histogram_quantile({q!r}, sum by (le) (rate({buckets}[{window}])))"


def single(results: Results) -> float | None:
    """The value of a query that answers with at most one series."""
    (samples,) = results
    if len(samples) > 1:
        raise MeasureError(f"the query returned {len(samples)} series; it must return one")
    return samples[0].value if samples else None


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def fill_placeholders(template: str, values: Mapping[str, str]) -> str:
    """`template` with each {{ name }} replaced by values[name]; TemplateError naming the
    known placeholders for any other."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(f"{{{{ {known} }}}}" for known in values)
            raise TemplateError(f"unknown placeholder {match.group(0)}; use {known}")
        return values[name]

    return _PLACEHOLDER.sub(fill, template)
