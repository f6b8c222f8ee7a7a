"""The real node's network and runtime settings keep pods inside this machine.

What is checked here is the configuration the node writes; the e2e tier checks that a
pod really has no default route and reaches the API server only through the translation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ground.controlplane import SERVICE_CIDR
from tests.ground.node import Firewall, Network, containerd_config

NETWORK = Network("mk-abc123", "10.244.7")
FIREWALL = Firewall("MK-ABC123", "mk-abc123")


def test_the_bridge_plugin_has_no_gateway_no_masquerade_and_only_the_service_route() -> None:
    bridge = NETWORK.cni_config(Path("/ipam"))["plugins"][0]
    assert (bridge["type"], bridge["bridge"]) == ("bridge", "mk-abc123")
    assert bridge["isGateway"] is False
    assert bridge["isDefaultGateway"] is False
    assert bridge["ipMasq"] is False
    ipam = bridge["ipam"]
    assert ipam["routes"] == [{"dst": SERVICE_CIDR, "gw": "10.244.7.1"}]
    [[addresses]] = ipam["ranges"]
    assert addresses == {
        "subnet": "10.244.7.0/24",
        "rangeStart": "10.244.7.10",
        "rangeEnd": "10.244.7.250",
    }


def test_only_pod_to_pod_is_forwarded_on_the_bridge_and_nothing_off_it() -> None:
    assert FIREWALL.rules() == [
        ("filter", ["-i", "mk-abc123", "-o", "mk-abc123", "-j", "ACCEPT"]),
        ("filter", ["-i", "mk-abc123", "-j", "DROP"]),
        ("filter", ["-o", "mk-abc123", "-j", "DROP"]),
    ]


@pytest.mark.parametrize(
    "setting",
    [
        "restrict_oom_score_adj = true",  # runc cannot set -998 here
        "disable_apparmor = true",  # no AppArmor on these machines
        'stream_server_address = "127.0.0.1"',  # exec and logs stay on loopback
        'bin_dir = "/usr/lib/cni"',
        'address = "/run/mk/containerd.sock"',  # its own socket, beside any other ground's
    ],
)
def test_containerd_is_configured_for_this_machine(setting: str) -> None:
    class Paths:
        workdir = Path("/w")
        run_dir = Path("/run/mk")
        socket = Path("/run/mk/containerd.sock")

    assert setting in containerd_config(Paths(), Path("/w/spec.json"))  # type: ignore[arg-type]
