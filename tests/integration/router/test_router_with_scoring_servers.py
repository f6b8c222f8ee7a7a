"""The router in front of real scoring servers (`modelkeeper serve`): two replicas of a
stable model and a shadow that is a different model, on scikit-learn's iris data.

Given what each model answers directly, the router's agreement counts are exact, the
client gets the stable's answers untouched, and ground-truth feedback sent through the
router reaches whichever of the two stable replicas served each request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.ground.polling import eventually
from tests.integration.router.harness import (
    MODEL,
    Launcher,
    backend,
    infer_body,
    model_dirs,
    routing_config,
    scraped,
    send_all,
)


async def test_agreement_and_feedback_through_the_router(launch: Launcher, tmp_path: Path) -> None:
    stable_dir, shadow_dir, frame = model_dirs(tmp_path)
    replicas = [launch.scoring_server(f"v1-{index}", stable_dir) for index in range(2)]
    shadow = launch.scoring_server("v2", shadow_dir, role="shadow")
    router = launch.router(
        routing_config(
            backend("v1", "stable", *replicas, weight=1),
            backend("v2", "shadow", shadow),
            mirror_percent=100,
        )
    )
    draw = np.random.default_rng(5)
    x = frame.drop(columns="target").to_numpy()
    batches = [draw.integers(0, len(x), size=draw.integers(1, 4)) for _ in range(60)]
    bodies = [infer_body(x[rows], f"req-{index}") for index, rows in enumerate(batches)]

    def direct(endpoint: dict[str, Any]) -> str:
        return f"http://{endpoint['host']}:{endpoint['port']}/v2/models/{MODEL}/infer"

    from_stable = await send_all(direct(replicas[0]), [{**b, "id": "direct"} for b in bodies])
    from_shadow = await send_all(direct(shadow), [{**b, "id": "direct"} for b in bodies])
    routed = await send_all(f"{router.url}/v2/models/{MODEL}/infer", bodies, concurrency=8)

    stable_labels = [answer.body["outputs"][0]["data"] for answer in from_stable]
    shadow_labels = [answer.body["outputs"][0]["data"] for answer in from_shadow]
    disagreeing = [
        sum(a != b for a, b in zip(mine, theirs, strict=True))
        for mine, theirs in zip(stable_labels, shadow_labels, strict=True)
    ]
    assert 0 < sum(disagreeing) < sum(map(len, batches)), "the pair must differ on some rows"
    assert [answer.body["outputs"][0]["data"] for answer in routed] == stable_labels
    assert [answer.body["id"] for answer in routed] == [body["id"] for body in bodies]
    eventually(
        lambda: router.metric("modelkeeper_router_mirror_requests_total") == len(bodies),
        timeout=30,
        what="every mirrored request judged",
    )
    mirrored = "modelkeeper_router_mirror_requests_total"
    assert router.metric(mirrored, outcome="agree") == sum(rows == 0 for rows in disagreeing)
    assert router.metric(mirrored, outcome="disagree") == sum(rows > 0 for rows in disagreeing)
    assert router.metric("modelkeeper_router_shadow_predictions_total", outcome="disagree") == sum(
        disagreeing
    )

    labels = [frame["target"].to_numpy()[rows].tolist() for rows in batches]
    feedback = [
        {"id": body["id"], "labels": label} for body, label in zip(bodies, labels, strict=True)
    ]
    answers = await send_all(f"{router.url}/v2/models/{MODEL}/feedback", feedback)

    assert [answer.status for answer in answers] == [200] * len(bodies)
    assert [answer.body["rows"] for answer in answers] == list(map(len, batches))
    joined = [
        scraped(f"http://{r['host']}:{r['port']}", "modelkeeper_feedback_rows_total")
        for r in replicas
    ]
    assert sum(joined) == sum(map(len, batches))
    assert all(rows > 0 for rows in joined), "both replicas served and joined some requests"
    shadow_url = f"http://{shadow['host']}:{shadow['port']}"
    assert scraped(shadow_url, "modelkeeper_feedback_rows_total") == sum(map(len, batches))
