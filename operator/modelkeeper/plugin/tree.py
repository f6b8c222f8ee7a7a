"""What `kubectl modelkeeper status` and `list` print: a rollout as a tree, Deployments as a table.

Like `kubectl argo rollouts get rollout`, `status` shows where the rollout is (phase with an
icon, step, weights, versions, the last analysis) and the pods of each version as a tree;
a pooled Deployment's tree ends with its ServingPool's pods, which serve every version, and
its split is its catalogue's, read as the pool's router reads it. Every choice of what is
shown is made here, in plain functions over typed objects, so it is tested with fixed
statuses and no cluster; the command module only fetches and prints.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from modelkeeper.api.base import ApiModel
from modelkeeper.api.deployment import AnalysisPhase, DeploymentResource, Phase, VersionStatus
from modelkeeper.api.labels import COMPONENT, DEPLOYMENT_LABEL, VERSION_LABEL
from modelkeeper.api.pool import POOL_LABEL, PooledFamily, pool_service, refusal
from modelkeeper.api.strategy import StrategyType
from modelkeeper.api.types import ServingRole
from modelkeeper.controller.podstates import pod_status_text
from modelkeeper.controller.poolobjects import ROUTER, SERVER
from modelkeeper.plugin.terminal import (
    NONE,
    Cell,
    OutputFormat,
    Table,
    Terminal,
    Tone,
    elapsed,
    one_line,
    paint,
    render_data,
)
from modelkeeper.router.catalogue import family_config
from modelkeeper.router.config import ConfigError, RoutingConfig, parse_config


@dataclass(frozen=True)
class Glyphs:
    """The drawing characters: Unicode, or ASCII when the terminal cannot show it."""

    phase: Mapping[Phase | None, str]
    verdict: Mapping[AnalysisPhase, str]
    branch: str
    last: str
    through: str


UNICODE = Glyphs(
    phase={
        Phase.HEALTHY: "✔",
        Phase.PROGRESSING: "◌",
        Phase.PAUSED: "॥",
        Phase.DEGRADED: "✖",
        Phase.ABORTED: "⚠",
        Phase.PENDING: "…",
        None: "…",
    },
    verdict={
        AnalysisPhase.SUCCESSFUL: "✔",
        AnalysisPhase.FAILED: "✖",
        AnalysisPhase.INCONCLUSIVE: "⚠",
    },
    branch="├── ",
    last="└── ",
    through="│   ",
)
ASCII = Glyphs(
    phase={
        Phase.HEALTHY: "+",
        Phase.PROGRESSING: "~",
        Phase.PAUSED: "||",
        Phase.DEGRADED: "x",
        Phase.ABORTED: "!",
        Phase.PENDING: "...",
        None: "...",
    },
    verdict={
        AnalysisPhase.SUCCESSFUL: "+",
        AnalysisPhase.FAILED: "x",
        AnalysisPhase.INCONCLUSIVE: "!",
    },
    branch="|-- ",
    last="`-- ",
    through="|   ",
)

PHASE_TONE = {
    Phase.HEALTHY: Tone.GOOD,
    Phase.PROGRESSING: Tone.BUSY,
    Phase.PAUSED: Tone.WARN,
    Phase.DEGRADED: Tone.BAD,
    Phase.ABORTED: Tone.BAD,
    Phase.PENDING: Tone.PLAIN,
}
VERDICT_TONE = {
    AnalysisPhase.SUCCESSFUL: Tone.GOOD,
    AnalysisPhase.FAILED: Tone.BAD,
    AnalysisPhase.INCONCLUSIVE: Tone.WARN,
}
SETTLED = frozenset({Phase.HEALTHY, Phase.DEGRADED, Phase.ABORTED})


class Pod(ApiModel):
    """One scoring server's pod, as the tree shows it."""

    name: str
    version: str
    ready: str
    status: str
    restarts: int
    created: datetime | None


def pod_of(obj: Mapping[str, Any]) -> Pod:
    """A pod object as kubectl get pods summarises it: ready containers, status, restarts.

    The status counts init containers first, as kubectl does (`Init:Error`,
    `Init:CrashLoopBackOff`, `Init:0/2`): a pod whose fetch step fails is not
    `ContainerCreating`.
    """
    metadata = obj["metadata"]
    status = obj.get("status", {})
    containers = status.get("containerStatuses", [])
    inits = status.get("initContainerStatuses", [])
    total = len(obj.get("spec", {}).get("containers", [])) or len(containers)
    return Pod(
        name=metadata["name"],
        version=metadata.get("labels", {}).get(VERSION_LABEL, ""),
        ready=f"{sum(bool(container.get('ready')) for container in containers)}/{total}",
        status=pod_status_text(obj),
        restarts=sum(int(container.get("restartCount", 0)) for container in [*inits, *containers]),
        created=metadata.get("creationTimestamp"),
    )


def pod_selector(deployment: str) -> str:
    """The label selector of a Deployment's scoring servers, of every version."""
    return f"{DEPLOYMENT_LABEL}={deployment},{COMPONENT}=server"


def pool_pod_selector(pool: str) -> str:
    """The label selector of a pool's scoring servers and router, as the operator labels them."""
    return f"{POOL_LABEL}={pool},{COMPONENT} in ({SERVER},{ROUTER})"


@dataclass(frozen=True)
class PoolPods:
    """A pooled Deployment's ServingPool and the pods that serve it: servers and router."""

    name: str
    servers: Sequence[Pod]
    routers: Sequence[Pod]


def pool_pods(pool: str, objs: Iterable[Mapping[str, Any]]) -> PoolPods:
    """The pool's pods (`pool_pod_selector`'s), parted into scoring servers and router."""
    component: dict[str, list[Pod]] = {SERVER: [], ROUTER: []}
    for obj in objs:
        label = obj["metadata"].get("labels", {}).get(COMPONENT)
        if label in component:
            component[label].append(pod_of(obj))
    return PoolPods(pool, component[SERVER], component[ROUTER])


@dataclass(frozen=True)
class Routing:
    """What the router in front of a Deployment splits by: each version's percent of live
    requests, and the percent copied to the shadow."""

    shares: Mapping[str, int]
    """By version; a shadow takes none (it has `mirror_percent`)."""
    canary_share: int
    """The canary's percent of live requests: what SetWeight asked for."""
    mirror_percent: float = 0.0


def split_of(config: RoutingConfig) -> Routing:
    """The split of a routing config: each primary's weight as its percent of theirs."""
    total = sum(backend.weight for backend in config.primaries)  # never 0: refused
    return Routing(
        {backend.name: round(100 * backend.weight / total) for backend in config.primaries},
        config.canary_share,
        config.mirror_percent,
    )


def router_routing(config_text: str) -> Routing | None:
    """The split a Deployment's own router is configured with; None if unreadable."""
    try:
        return split_of(parse_config(config_text))
    except ConfigError:
        return None


def catalogue_routing(pool: str, config_map: Mapping[str, Any]) -> Routing | None:
    """The split the pool's router follows for a pooled Deployment: its catalogue ConfigMap
    made a routing config as that router makes it (a preview is reached by its version,
    outside the split); None when the router would not take it (`refusal`) or cannot read it."""
    if refusal(config_map) is not None:
        return None
    try:
        family = PooledFamily.from_config_map(config_map)
        return split_of(family_config(family, pool_service(pool)))
    except ValueError:  # a ConfigError, or a pydantic ValidationError naming the field
        return None


def redraw(frame: str, previous_height: int) -> str:
    """The frame drawn over the previous one without flicker: up to the previous frame's first
    line, each line written over the old one and cleared only past its end, then the rest of
    the screen below cleared. Printed with a newline, as the previous frame was."""
    up = f"\x1b[{previous_height}F" if previous_height else ""
    return up + "\x1b[K\n".join(frame.split("\n")) + "\x1b[K\x1b[J"


def is_settled(deployment: DeploymentResource) -> bool:
    """Whether a rollout is over: Healthy, Degraded or Aborted, with no candidate."""
    status = deployment.status
    return status.phase in SETTLED and status.candidate is None


@dataclass(frozen=True)
class Readout:
    """What `status` draws on besides the Deployment: its own pods, the split its router
    (or its pool's) follows, and with spec.pool the pool's pods."""

    pods: Sequence[Pod]
    routing: Routing | None
    now: datetime
    pool: PoolPods | None = None


def show_status(
    deployment: DeploymentResource, readout: Readout, terminal: Terminal | None, glyphs: Glyphs
) -> str:
    """The summary lines, the last analysis, then the pods of each version as a tree."""
    blocks = [
        _fields(_summary(deployment, readout, terminal, glyphs)),
        _analysis(deployment, terminal, glyphs),
        _pod_tree(deployment, readout, terminal, glyphs),
    ]
    return "\n\n".join(block for block in blocks if block)


def _summary(
    deployment: DeploymentResource, readout: Readout, terminal: Terminal | None, glyphs: Glyphs
) -> list[tuple[str, str]]:
    status = deployment.status
    strategy = deployment.spec.strategy
    phase = status.phase
    shown = paint(
        Cell(f"{glyphs.phase[phase]} {phase or Phase.PENDING}", PHASE_TONE[phase or Phase.PENDING]),
        terminal,
    )
    lines = [
        ("Name", deployment.metadata.name),
        ("Namespace", deployment.metadata.namespace or NONE),
        ("Status", shown),
        ("Message", one_line(status.message) or NONE),
    ]
    if readout.pool is not None:
        lines.append(("Pool", readout.pool.name))
    lines.append(("Strategy", strategy.type))
    if strategy.type is StrategyType.CANARY and strategy.canary is not None:
        step = NONE if status.step is None else str(status.step)
        lines.append(("  Step", f"{step}/{len(strategy.canary.steps)}"))
    if status.weight is not None or status.candidate is not None:
        lines.append(("  SetWeight", _maybe(status.weight)))
        if readout.routing is not None:
            lines.append(("  ActualWeight", str(readout.routing.canary_share)))
    if status.mirror_percent is not None:
        lines.append(("  Mirror", f"{status.mirror_percent}%"))
    stable, candidate = status.stable, status.candidate
    lines.append(
        (
            "Stable",
            NONE if stable is None else f"{stable.version} ({stable.model}), {_ready(stable)}",
        )
    )
    if candidate is not None:
        since = elapsed(candidate.since, readout.now)
        lines.append(
            (
                "Candidate",
                f"{candidate.version} ({candidate.model}) {candidate.role}, "
                f"{_ready(candidate)}, since {since}",
            )
        )
    return lines


def _fields(lines: Sequence[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in lines) + 2
    return "\n".join(f"{label + ':':<{width}}{value}" for label, value in lines)


def _analysis(deployment: DeploymentResource, terminal: Terminal | None, glyphs: Glyphs) -> str:
    """The newest analysis run: its verdict, then each check's value and verdict."""
    runs = deployment.status.analysis_runs
    if not runs:
        return ""
    run = runs[0]
    verdict = paint(
        Cell(f"{glyphs.verdict[run.phase]} {run.phase}", VERDICT_TONE[run.phase]), terminal
    )
    at = run.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    step = "" if run.step is None else f", step {run.step}"
    head = f"Analysis:  {verdict} at {at}{step}"
    if run.message:
        head += f": {one_line(run.message)}"
    rows = [
        (
            Cell(metric.name),
            Cell(NONE if metric.value is None else f"{metric.value:g}"),
            Cell(f"{glyphs.verdict[metric.phase]} {metric.phase}", VERDICT_TONE[metric.phase]),
            Cell(one_line(metric.message)),
        )
        for metric in run.metrics
    ]
    if not rows:
        return head
    table = _trimmed(Table(("METRIC", "VALUE", "VERDICT", "MESSAGE"), rows).render(terminal))
    return "\n".join([head, *(f"  {line}" for line in table.splitlines())])


@dataclass(frozen=True)
class Branch:
    """One line of the tree and the lines under it: a version, a pool, a group or a pod."""

    name: str
    pod: Pod | None = None
    under: Sequence[Branch] = ()


def status_branches(deployment: DeploymentResource, readout: Readout) -> list[Branch]:
    """The stable version, the candidate, then any other with pods of its own or a share of
    the split (Old), each with its share and its pods; then, with spec.pool, the pool's
    servers and router, which serve every version of the pool."""
    status = deployment.status
    roles: dict[str, str] = {}
    if status.stable is not None:
        roles[status.stable.version] = "Stable"
    if status.candidate is not None:
        roles[status.candidate.version] = str(status.candidate.role)
    routed = readout.routing.shares if readout.routing is not None else {}
    for version in sorted({pod.version for pod in readout.pods} | set(routed)):
        roles.setdefault(version, "Old")
    branches = [
        Branch(
            f"{version} ({_routed(role, version, readout.routing)})",
            under=_leaves(pod for pod in readout.pods if pod.version == version),
        )
        for version, role in roles.items()
    ]
    if readout.pool is not None:
        pool = readout.pool
        groups = (
            Branch("servers", under=_leaves(pool.servers)),
            Branch("router", under=_leaves(pool.routers)),
        )
        branches.append(Branch(f"pool {pool.name}", under=groups))
    return branches


def _routed(role: str, version: str, split: Routing | None) -> str:
    """The role, and the version's share of the split (or the shadow's mirror) when known."""
    if split is None:
        return role
    if role == ServingRole.SHADOW:
        return f"{role}, mirror {split.mirror_percent:g}%"
    if version in split.shares:
        return f"{role}, {split.shares[version]}%"
    return role


def _leaves(pods: Iterable[Pod]) -> tuple[Branch, ...]:
    return tuple(Branch(pod.name, pod) for pod in sorted(pods, key=lambda pod: pod.name))


def _pod_tree(
    deployment: DeploymentResource, readout: Readout, terminal: Terminal | None, glyphs: Glyphs
) -> str:
    """NAME READY STATUS RESTARTS AGE, the Deployment at the root (`status_branches`)."""
    rows = [_row(deployment.metadata.name)]
    rows += _rows(status_branches(deployment, readout), "", glyphs, readout.now)
    return _trimmed(Table(("NAME", "READY", "STATUS", "RESTARTS", "AGE"), rows).render(terminal))


def _rows(
    branches: Sequence[Branch], indent: str, glyphs: Glyphs, now: datetime
) -> Iterator[tuple[Cell, ...]]:
    for index, branch in enumerate(branches):
        last = index == len(branches) - 1
        prefix = indent + (glyphs.last if last else glyphs.branch)
        yield (
            _row(prefix + branch.name) if branch.pod is None else _pod_row(prefix, branch.pod, now)
        )
        yield from _rows(branch.under, indent + ("    " if last else glyphs.through), glyphs, now)


def _trimmed(table: str) -> str:
    """The table without the padding that empty last cells leave at the ends of lines."""
    return "\n".join(line.rstrip() for line in table.splitlines())


def _row(name: str) -> tuple[Cell, ...]:
    return (Cell(name), Cell(""), Cell(""), Cell(""), Cell(""))


def _pod_row(prefix: str, pod: Pod, now: datetime) -> tuple[Cell, ...]:
    healthy = pod.status == "Running" and pod.ready.split("/")[0] == pod.ready.split("/")[1]
    return (
        Cell(prefix + pod.name),
        Cell(pod.ready),
        Cell(pod.status, Tone.GOOD if healthy else Tone.WARN),
        Cell(str(pod.restarts)),
        Cell(elapsed(pod.created, now)),
    )


def _ready(version: VersionStatus) -> str:
    return f"{version.ready_replicas}/{version.replicas} ready"


def _maybe(value: int | None) -> str:
    return NONE if value is None else str(value)


# --- list: the Deployments of a namespace ---


class DeploymentRow(ApiModel):
    """One Deployment as `list -o json|yaml` prints it."""

    namespace: str | None
    name: str
    model: str
    stable: str | None
    candidate: str | None
    weight: int | None
    step: int | None
    phase: Phase | None
    created: datetime | None


def deployment_rows(deployments: Sequence[DeploymentResource]) -> list[DeploymentRow]:
    """The Deployments by namespace, then name."""
    return [
        DeploymentRow(
            namespace=item.metadata.namespace,
            name=item.metadata.name,
            model=item.spec.model.name,
            stable=item.status.stable.version if item.status.stable else None,
            candidate=item.status.candidate.version if item.status.candidate else None,
            weight=item.status.weight,
            step=item.status.step,
            phase=item.status.phase,
            created=item.metadata.creation_timestamp,
        )
        for item in sorted(
            deployments, key=lambda item: (item.metadata.namespace or "", item.metadata.name)
        )
    ]


def show_list(
    deployments: Sequence[DeploymentResource],
    all_namespaces: bool,
    output: OutputFormat | None,
    now: datetime,
    terminal: Terminal | None,
) -> str:
    """What `list` prints: NAME MODEL STABLE CANDIDATE WEIGHT STEP PHASE AGE (NAMESPACE first
    with -A), a line when there are none, or the rows as data."""
    rows = deployment_rows(deployments)
    if output is not None:
        return render_data(rows, output)
    if not rows:
        return "no Deployments (modelkeeper.io) found"
    headers: tuple[str, ...] = (
        "NAME",
        "MODEL",
        "STABLE",
        "CANDIDATE",
        "WEIGHT",
        "STEP",
        "PHASE",
        "AGE",
    )
    cells: list[tuple[Cell, ...]] = [
        (
            Cell(row.name),
            Cell(row.model),
            Cell(row.stable or NONE),
            Cell(row.candidate or NONE),
            Cell(_maybe(row.weight)),
            Cell(_maybe(row.step)),
            Cell(row.phase or NONE, PHASE_TONE[row.phase] if row.phase else Tone.PLAIN),
            Cell(elapsed(row.created, now)),
        )
        for row in rows
    ]
    if all_namespaces:
        headers = ("NAMESPACE", *headers)
        cells = [
            (Cell(row.namespace or NONE), *line) for row, line in zip(rows, cells, strict=True)
        ]
    return Table(headers, cells).render(terminal)
