"""Deployment spec parts the traffic tests share: one spec per strategy, and a Gateway API route."""

from __future__ import annotations

from typing import Any

CANARY: dict[str, Any] = {"type": "Canary", "canary": {"steps": [{"setWeight": 30}, {"pause": {}}]}}
SHADOW: dict[str, Any] = {"type": "Shadow", "shadow": {"mirrorPercent": 50, "duration": "10m"}}
BLUE_GREEN: dict[str, Any] = {"type": "BlueGreen", "blueGreen": {"autoPromote": False}}
GATEWAY_API: dict[str, Any] = {
    "provider": "GatewayAPI",
    "gatewayAPI": {
        "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
        "hostnames": ["fraud.example.com"],
    },
}
