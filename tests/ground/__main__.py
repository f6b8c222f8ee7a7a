"""`python -m tests.ground up|down`: bring the test ground up and leave it running
(for `make cluster-up`), or stop the one recorded in .ground/.
"""

from __future__ import annotations

import argparse
import sys

from tests.ground.ground import REPO_ROOT, Ground, down
from tests.ground.processes import GroundError

STATE_DIR = REPO_ROOT / ".ground"
STATE_FILE = STATE_DIR / "state.json"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ground")
    parser.add_argument("action", choices=["up", "down"])
    args = parser.parse_args()
    try:
        if args.action == "down":
            stopped = down(STATE_FILE)
            print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            return 0
        if STATE_FILE.exists():
            raise GroundError(
                f"a ground is already recorded in {STATE_FILE}: run `make cluster-down` first"
            )
        ground = Ground.up(STATE_DIR)
        ground.record(STATE_FILE)
    except GroundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    logs = STATE_DIR
    print(f"""The test ground is up.
  export KUBECONFIG={ground.plane.kubeconfig}
  export PATH={ground.plane.bin_dir}:$PATH      # kubectl {ground.plane.bin_dir / "kubectl"}
  Prometheus: {ground.prometheus.url}
  Pods on {ground.node.network.subnet}, bridge {ground.node.network.bridge}
  Its containers: ctr --address {ground.node.socket} -n k8s.io containers list
  Logs under {logs}
Stop it with `make cluster-down`.""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
