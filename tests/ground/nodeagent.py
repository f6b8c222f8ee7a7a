"""The node agent: a test-only stand-in for the kubelet.

It registers a Node, keeps its Lease fresh, and runs the containers of the pods
bound to it as local processes. Each pod gets its own loopback address
(127.64.x.y); each container runs in its own mount namespace where the pod's
volumes (emptyDir, configMap, secret, projected service-account token and
downward API) and its termination-message file are bind-mounted at the paths
the pod spec names. It runs readiness and liveness probes, restarts containers
by the pod's restart policy with back-off, reports phase, conditions, podIP,
container states, exit codes and termination messages, and honours deletion
with the pod's grace period.

Deviations from a kubelet, on purpose: in-cluster clients reach the API server
at 127.0.0.1 (KUBERNETES_SERVICE_HOST/PORT) because nothing routes ClusterIPs
here; `kubectl logs`/`exec` are not served (logs are files in the agent's
folder); users, resource limits and read-only root filesystems are not enforced.

    python -m tests.ground.nodeagent --kubeconfig K --workdir DIR [--node NAME]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import logging
import os
import random
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.ground import images

log = logging.getLogger("nodeagent")

KUBE_VERSION = "v1.34.4"
TICK = 0.25
LEASE_SECONDS = 40
MAX_BACKOFF = 10.0
TERMINATION_MESSAGE_LIMIT = 4096
SERVICE_ACCOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
REPO_ROOT = Path(__file__).resolve().parents[2]

Obj = dict[str, Any]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Addresses:
    """Hands out one loopback address per pod, from 127.64.0.0/10, never the same twice.

    Each agent starts in a random /16 of the range, so two grounds on one machine (two
    test sessions at once) do not hand out the same addresses.
    """

    def __init__(self) -> None:
        self._next = (random.randrange(64) << 16) + 1
        self._lock = threading.Lock()

    def allocate(self) -> str:
        with self._lock:
            n = self._next
            self._next += 1
        if n % 256 in (0, 255):
            return self.allocate()
        return f"127.{64 + (n >> 16) % 64}.{(n >> 8) % 256}.{n % 256}"


# ---------------------------------------------------------------------------
# Probes


def _port(container: Obj, port: Any) -> int:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports") or []:
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"container {container['name']} has no port named {port!r}")


def probe_succeeds(probe: Obj, container: Obj, pod_ip: str) -> bool:
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "httpGet" in probe:
            get = probe["httpGet"]
            scheme = str(get.get("scheme") or "HTTP").lower()
            host, port = get.get("host") or pod_ip, _port(container, get["port"])
            url = f"{scheme}://{host}:{port}{get.get('path') or '/'}"
            request = urllib.request.Request(url)
            for header in get.get("httpHeaders") or []:
                request.add_header(header["name"], header["value"])
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return 200 <= int(response.status) < 400
        if "tcpSocket" in probe:
            target = (
                probe["tcpSocket"].get("host") or pod_ip,
                _port(container, probe["tcpSocket"]["port"]),
            )
            with socket.create_connection(target, timeout=timeout):
                return True
        if "exec" in probe:
            return (
                subprocess.run(
                    probe["exec"]["command"], timeout=timeout, capture_output=True
                ).returncode
                == 0
            )
    except Exception:
        return False
    return False


@dataclass
class ProbeState:
    """Counts consecutive results so thresholds apply as the kubelet applies them."""

    probe: Obj
    started: float
    result: bool = False
    successes: int = 0
    failures: int = 0
    next_at: float = 0.0

    def due(self, at: float) -> bool:
        initial = float(self.probe.get("initialDelaySeconds") or 0)
        return at >= self.started + initial and at >= self.next_at

    def record(self, ok: bool, at: float) -> None:
        self.next_at = at + float(self.probe.get("periodSeconds") or 10)
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.probe.get("successThreshold") or 1):
                self.result = True
        else:
            self.failures, self.successes = self.failures + 1, 0
            if self.failures >= int(self.probe.get("failureThreshold") or 3):
                self.result = False


# ---------------------------------------------------------------------------
# Containers


@dataclass
class ContainerRun:
    """One container of a pod: its current process and what the pod status says of it."""

    spec: Obj
    init: bool
    process: subprocess.Popen[bytes] | None = None
    restart_count: int = 0
    started_at: str | None = None
    started_mono: float = 0.0
    terminated: Obj | None = None
    last_terminated: Obj | None = None
    waiting: tuple[str, str] | None = ("ContainerCreating", "")
    restart_at: float = 0.0
    readiness: ProbeState | None = None
    liveness: ProbeState | None = None

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def ready(self) -> bool:
        if not self.running:
            return False
        return self.readiness.result if self.readiness else True

    def status(self) -> Obj:
        state: Obj
        if self.running:
            state = {"running": {"startedAt": self.started_at}}
        elif self.terminated is not None:
            state = {"terminated": self.terminated}
        else:
            reason, message = self.waiting or ("ContainerCreating", "")
            state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        status: Obj = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": "",
            "containerID": f"nodeagent://{self.process.pid}" if self.process else "",
            "ready": self.ready,
            "started": self.running,
            "restartCount": self.restart_count,
            "state": state,
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        return status


class PodRunner(threading.Thread):
    """Runs one pod's containers and keeps its status true until the pod is gone."""

    def __init__(self, agent: Agent, pod: Obj) -> None:
        super().__init__(
            daemon=True, name=f"pod-{pod['metadata']['namespace']}/{pod['metadata']['name']}"
        )
        self.agent = agent
        self.pod = pod
        self.uid = pod["metadata"]["uid"]
        self.lock = threading.Lock()
        self.dir: Path = agent.workdir / "pods" / self.uid
        self.ip = agent.addresses.allocate()
        self.start_time = now()
        self.init_runs = [ContainerRun(c, True) for c in pod["spec"].get("initContainers") or []]
        self.runs = [ContainerRun(c, False) for c in pod["spec"]["containers"]]
        self.done = threading.Event()
        self.last_status: Obj | None = None
        self.volume_refresh_at = 0.0
        self._transitions: dict[str, str] = {}

    # -- identity -------------------------------------------------------------

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    @property
    def name_(self) -> str:
        return str(self.pod["metadata"]["name"])

    def update(self, pod: Obj) -> None:
        with self.lock:
            self.pod = pod

    # -- main loop --------------------------------------------------------------

    def run(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            while not self.done.is_set():
                with self.lock:
                    pod = self.pod
                if pod["metadata"].get("deletionTimestamp"):
                    self.terminate(pod)
                    return
                self.step(pod)
                self.publish()
                if self.finished():
                    self.done.wait(1.0)
                else:
                    self.done.wait(TICK)
        except Exception:
            log.exception("pod %s/%s: runner failed", self.namespace, self.name_)
        finally:
            self.agent.forget(self.uid)

    def step(self, pod: Obj) -> None:
        at = time.monotonic()
        if at >= self.volume_refresh_at and not self.finished():
            self.refresh_volumes(pod)
            self.volume_refresh_at = at + 2.0
        for run in self.init_runs:
            if run.terminated and run.terminated.get("exitCode") == 0:
                continue
            self.drive(run, pod, at)
            return  # init containers run one at a time, in order
        for run in self.runs:
            self.drive(run, pod, at)

    def drive(self, run: ContainerRun, pod: Obj, at: float) -> None:
        policy = pod["spec"].get("restartPolicy", "Always")
        if run.init and policy == "Always":
            policy = "OnFailure"
        if run.process is not None and run.process.poll() is not None:
            self.on_exit(run, policy, at)
        if run.running:
            self.probe(run, at)
            return
        if run.terminated is not None:
            code = run.terminated["exitCode"]
            if policy == "Never" or (policy == "OnFailure" and code == 0):
                return
            if at < run.restart_at:
                return
        if run.waiting and run.waiting[0] == "ErrImagePull":
            return
        self.launch(run, pod, at)

    def on_exit(self, run: ContainerRun, policy: str, at: float) -> None:
        assert run.process is not None
        code = run.process.returncode
        code = 128 + -code if code < 0 else code
        run.terminated = {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": run.started_at,
            "finishedAt": now(),
            "containerID": f"nodeagent://{run.process.pid}",
        }
        message = self.termination_message(run, code)
        if message:
            run.terminated["message"] = message
        will_restart = policy == "Always" or (policy == "OnFailure" and code != 0)
        if will_restart:
            delay = min(MAX_BACKOFF, 2.0 ** min(run.restart_count, 4))
            run.restart_at = at + delay
            run.waiting = (
                "CrashLoopBackOff",
                f"back-off {delay:.0f}s restarting failed container={run.name}",
            )
        run.process = None
        self.agent.event(
            self.pod,
            "Normal" if code == 0 else "Warning",
            "Completed" if code == 0 else "BackOff" if will_restart else "Failed",
            f"Container {run.name} exited with code {code}",
        )

    def termination_message(self, run: ContainerRun, code: int) -> str:
        path = self.dir / "termination" / run.name
        message = ""
        with contextlib.suppress(OSError):
            message = path.read_text(errors="replace")[:TERMINATION_MESSAGE_LIMIT]
        if (
            not message
            and code != 0
            and run.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ):
            with contextlib.suppress(OSError):
                lines = (
                    (self.dir / "logs" / f"{run.name}.log").read_text(errors="replace").splitlines()
                )
                message = "\n".join(lines[-80:])[-2048:]
        return message

    def launch(self, run: ContainerRun, pod: Obj, at: float) -> None:
        image = images.resolve(run.spec.get("image", ""))
        if image is None:
            message = (
                f"image {run.spec.get('image')!r} is not known to the test node agent; "
                f"known images: {', '.join(sorted(images.IMAGES))}"
            )
            if run.waiting != ("ErrImagePull", message):
                run.waiting = ("ErrImagePull", message)
                self.agent.event(pod, "Warning", "Failed", f"Failed to pull image: {message}")
            return
        try:
            env = self.container_env(run, pod, image)
            argv = self.container_argv(run, pod, image, env)
        except Exception as error:  # a missing ConfigMap key, a bad mount: the kubelet waits too
            run.waiting = ("CreateContainerConfigError", brief(error))
            return
        logs = self.dir / "logs"
        logs.mkdir(exist_ok=True)
        if run.process is None and run.terminated is not None:
            run.last_terminated = run.terminated
            run.restart_count += 1
        with (logs / f"{run.name}.log").open("ab") as out:
            run.process = subprocess.Popen(
                argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.working_dir(run),
                start_new_session=True,
            )
        run.terminated, run.waiting = None, None
        run.started_at, run.started_mono = now(), at
        run.readiness = (
            ProbeState(run.spec["readinessProbe"], at) if run.spec.get("readinessProbe") else None
        )
        run.liveness = (
            ProbeState(run.spec["livenessProbe"], at) if run.spec.get("livenessProbe") else None
        )
        self.agent.event(pod, "Normal", "Started", f"Started container {run.name}")

    def probe(self, run: ContainerRun, at: float) -> None:
        if run.readiness and run.readiness.due(at):
            run.readiness.record(probe_succeeds(run.readiness.probe, run.spec, self.ip), at)
        if run.liveness and run.liveness.due(at):
            ok = probe_succeeds(run.liveness.probe, run.spec, self.ip)
            run.liveness.record(ok, at)
            if not ok and run.liveness.failures >= int(
                run.liveness.probe.get("failureThreshold") or 3
            ):
                self.agent.event(
                    self.pod, "Warning", "Unhealthy", f"Liveness probe failed for {run.name}"
                )
                self.kill(run, float(self.pod["spec"].get("terminationGracePeriodSeconds") or 30))

    # -- the container's world --------------------------------------------------------

    def working_dir(self, run: ContainerRun) -> Path:
        wanted = run.spec.get("workingDir")
        if wanted and Path(wanted).is_dir():
            return Path(wanted)
        return self.dir

    def field_value(self, pod: Obj, path: str) -> str:
        meta = pod["metadata"]
        simple = {
            "metadata.name": meta["name"],
            "metadata.namespace": meta["namespace"],
            "metadata.uid": meta["uid"],
            "spec.nodeName": pod["spec"].get("nodeName", ""),
            "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
            "status.podIP": self.ip,
            "status.podIPs": self.ip,
            "status.hostIP": "127.0.0.1",
        }
        if path in simple:
            return str(simple[path])
        for prefix, values in (
            ("metadata.labels", meta.get("labels")),
            ("metadata.annotations", meta.get("annotations")),
        ):
            if path.startswith(prefix + "['"):
                return str((values or {}).get(path[len(prefix) + 2 : -2], ""))
        raise ValueError(f"unsupported fieldRef {path}")

    def key_ref(self, kind: str, ref: Obj) -> str | None:
        data = self.agent.config_data(kind, self.namespace, ref["name"])
        if data is None or ref["key"] not in data:
            if ref.get("optional"):
                return None
            raise ValueError(f"{kind} {ref['name']!r} or its key {ref['key']!r} not found")
        return data[ref["key"]]

    def container_env(self, run: ContainerRun, pod: Obj, image: images.Image) -> dict[str, str]:
        api_port = self.agent.api_port
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.dir),
            "HOSTNAME": self.name_,
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            "KUBERNETES_SERVICE_HOST": "127.0.0.1",
            "KUBERNETES_SERVICE_PORT": str(api_port),
            "KUBERNETES_SERVICE_PORT_HTTPS": str(api_port),
        }
        env.update({key: value.replace("{pod_ip}", self.ip) for key, value in image.env.items()})
        for source in run.spec.get("envFrom") or []:
            for kind, key in (("configmap", "configMapRef"), ("secret", "secretRef")):
                if key in source:
                    data = self.agent.config_data(kind, self.namespace, source[key]["name"]) or {}
                    env.update({source.get("prefix", "") + k: v for k, v in data.items()})
        for var in run.spec.get("env") or []:
            if "value" in var:
                env[var["name"]] = expand(var["value"], env)
            elif "valueFrom" in var:
                source = var["valueFrom"]
                value: str | None
                if "fieldRef" in source:
                    value = self.field_value(pod, source["fieldRef"]["fieldPath"])
                elif "configMapKeyRef" in source:
                    value = self.key_ref("configmap", source["configMapKeyRef"])
                elif "secretKeyRef" in source:
                    value = self.key_ref("secret", source["secretKeyRef"])
                else:
                    value = ""  # resourceFieldRef: limits are not enforced here
                if value is not None:
                    env[var["name"]] = value
            else:
                env[var["name"]] = ""
        return env

    def volume_files(self, volume: Obj, pod: Obj) -> dict[str, str | bytes] | None:
        """The files a non-emptyDir volume holds now (path -> content); None for emptyDir."""
        if "emptyDir" in volume:
            return None
        files: dict[str, str | bytes] = {}
        if "configMap" in volume or "secret" in volume:
            kind = "configmap" if "configMap" in volume else "secret"
            source = volume.get("configMap") or volume["secret"]
            name = source.get("name") or source.get("secretName")
            self.add_keys(files, kind, name, source)
        elif "projected" in volume:
            for part in volume["projected"].get("sources") or []:
                if "serviceAccountToken" in part:
                    token = part["serviceAccountToken"]
                    files[token.get("path", "token")] = self.agent.token(
                        pod, token.get("expirationSeconds")
                    )
                elif "configMap" in part:
                    self.add_keys(files, "configmap", part["configMap"]["name"], part["configMap"])
                elif "secret" in part:
                    self.add_keys(files, "secret", part["secret"]["name"], part["secret"])
                elif "downwardAPI" in part:
                    for item in part["downwardAPI"].get("items") or []:
                        if "fieldRef" in item:
                            files[item["path"]] = self.field_value(
                                pod, item["fieldRef"]["fieldPath"]
                            )
        elif "downwardAPI" in volume:
            for item in volume["downwardAPI"].get("items") or []:
                if "fieldRef" in item:
                    files[item["path"]] = self.field_value(pod, item["fieldRef"]["fieldPath"])
        else:
            raise ValueError(
                f"volume {volume['name']}: this node agent supports emptyDir, configMap, "
                "secret, projected and downwardAPI"
            )
        return files

    def add_keys(self, files: dict[str, str | bytes], kind: str, name: str, source: Obj) -> None:
        data = self.agent.config_data(kind, self.namespace, name)
        if data is None:
            if source.get("optional"):
                return
            raise ValueError(f"{kind} {name!r} not found")
        items = source.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] in data:
                files[item["path"]] = data[item["key"]]

    def refresh_volumes(self, pod: Obj) -> None:
        """Write every volume's files, as the kubelet keeps ConfigMap volumes in sync."""
        for volume in pod["spec"].get("volumes") or []:
            folder = self.dir / "volumes" / volume["name"]
            folder.mkdir(parents=True, exist_ok=True)
            try:
                files = self.volume_files(volume, pod)
            except Exception as error:
                log.warning(
                    "pod %s/%s volume %s: %s",
                    self.namespace,
                    self.name_,
                    volume["name"],
                    brief(error),
                )
                continue
            for relative, content in (files or {}).items():
                target = folder / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                data = content if isinstance(content, bytes) else content.encode()
                with contextlib.suppress(OSError):
                    if target.read_bytes() == data:
                        continue
                staging = target.with_name(f".{target.name}.new")
                staging.write_bytes(data)
                staging.replace(target)

    def container_argv(
        self, run: ContainerRun, pod: Obj, image: images.Image, env: Mapping[str, str]
    ) -> list[str]:
        """The command line ($(VAR) expanded with the container's whole environment, as the
        kubelet does), wrapped in a private mount namespace with the pod's mounts."""
        argv = [
            expand(a, env)
            for a in images.command_line(image, run.spec.get("command"), run.spec.get("args"))
        ]
        binds: list[tuple[Path, str]] = []
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        for mount in run.spec.get("volumeMounts") or []:
            if mount["name"] not in volumes:
                raise ValueError(f"volumeMount {mount['name']!r} names no volume of the pod")
            source = self.dir / "volumes" / mount["name"]
            if mount.get("subPath"):
                source = source / mount["subPath"]
                source.mkdir(parents=True, exist_ok=True)
            binds.append((source, mount["mountPath"]))
        termination = self.dir / "termination" / run.name
        termination.parent.mkdir(exist_ok=True)
        termination.write_text("")
        binds.append(
            (termination, run.spec.get("terminationMessagePath") or "/dev/termination-log")
        )
        # Parents before children; a mount that covers the pod's folder (an emptyDir at /tmp,
        # say) last, since every other mount's source lives inside that folder.
        binds.sort(key=lambda bind: (self.dir.is_relative_to(bind[1]), len(Path(bind[1]).parts)))
        # The images' own folders that a mount covers are held open first and bound back last.
        covered = [
            root
            for root in dict.fromkeys(images.IMAGE_ROOTS)
            if any(root.is_relative_to(target) for _, target in binds)
        ]
        script = ["set -e"]
        script += [f"exec {fd}< {shlex.quote(str(root))}" for fd, root in enumerate(covered, 3)]
        for source, target in binds:
            if source.is_dir():
                Path(target).mkdir(parents=True, exist_ok=True)
            else:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                Path(target).touch(exist_ok=True)
            script.append(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}")
        for fd, root in enumerate(covered, 3):
            path = shlex.quote(str(root))
            script += [
                f"mkdir -p {path}",
                f"mount --no-canonicalize --bind /proc/self/fd/{fd} {path}",
                f"exec {fd}<&-",
            ]
        script.append('exec "$@"')
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            "\n".join(script),
            "container",
            *argv,
        ]

    # -- endings ------------------------------------------------------------------

    def kill(self, run: ContainerRun, grace: float) -> None:
        if run.process is None or run.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.process.pid, signal.SIGTERM)
        try:
            run.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()

    def terminate(self, pod: Obj) -> None:
        """Deletion: SIGTERM the containers, SIGKILL after the grace period, let the pod go."""
        grace = float(pod["metadata"].get("deletionGracePeriodSeconds") or 0)
        self.agent.event(pod, "Normal", "Killing", "Stopping containers")
        threads = [
            threading.Thread(target=self.kill, args=(run, grace))
            for run in self.runs + self.init_runs
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for run in self.runs + self.init_runs:
            if run.process is not None:
                self.on_exit(run, "Never", time.monotonic())
        with contextlib.suppress(ApiException):
            self.publish()
        self.agent.delete_pod(self.namespace, self.name_, self.uid)
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop(self) -> None:
        """The agent is shutting down: end our processes now."""
        self.done.set()
        for run in self.runs + self.init_runs:
            self.kill(run, 2.0)

    # -- status -----------------------------------------------------------------

    def finished(self) -> bool:
        return self.phase() in ("Succeeded", "Failed")

    def phase(self) -> str:
        policy = self.pod["spec"].get("restartPolicy", "Always")
        if (
            any(r.terminated and r.terminated["exitCode"] != 0 for r in self.init_runs)
            and policy == "Never"
        ):
            return "Failed"
        if not all(r.terminated and r.terminated["exitCode"] == 0 for r in self.init_runs):
            return "Pending"
        if any(r.running for r in self.runs):
            return "Running"
        if all(r.terminated for r in self.runs):
            if all(r.terminated and r.terminated["exitCode"] == 0 for r in self.runs):
                return "Succeeded" if policy != "Always" else "Running"
            if policy == "Never":
                return "Failed"
            return "Running"
        if any(r.started_at for r in self.runs):
            return "Running"
        return "Pending"

    def conditions(self, phase: str) -> list[Obj]:
        initialized = all(r.terminated and r.terminated["exitCode"] == 0 for r in self.init_runs)
        ready = phase == "Running" and all(r.ready for r in self.runs)

        def condition(kind: str, value: bool) -> Obj:
            return {"type": kind, "status": "True" if value else "False"}

        return [
            condition("PodReadyToStartContainers", True),
            condition("Initialized", initialized),
            condition("ContainersReady", ready),
            condition("Ready", ready),
            condition("PodScheduled", True),
        ]

    def publish(self) -> None:
        phase = self.phase()
        status: Obj = {
            "phase": phase,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": self.ip,
            "podIPs": [{"ip": self.ip}],
            "startTime": self.start_time,
            "conditions": self.conditions(phase),
            "containerStatuses": [r.status() for r in self.runs],
        }
        if self.init_runs:
            status["initContainerStatuses"] = [r.status() for r in self.init_runs]
        if status == self.last_status:
            return
        stamped = {
            **status,
            "conditions": [
                {**c, "lastTransitionTime": self.transition_time(c)} for c in status["conditions"]
            ],
        }
        try:
            self.agent.core.patch_namespaced_pod_status(
                self.name_, self.namespace, {"status": stamped}
            )
            self.last_status = status
        except ApiException as error:
            if error.status == 404:
                self.done.set()
            else:
                log.warning(
                    "pod %s/%s: status update failed: %s", self.namespace, self.name_, error.reason
                )

    def transition_time(self, condition: Obj) -> str:
        previous = {c["type"]: c for c in (self.last_status or {}).get("conditions", [])}
        if previous.get(condition["type"], {}).get("status") == condition["status"]:
            return str(self._transitions.get(condition["type"], now()))
        self._transitions[condition["type"]] = now()
        return self._transitions[condition["type"]]


def brief(error: Exception) -> str:
    """One line for a log or a status: the API's own message rather than a whole response."""
    if isinstance(error, ApiException):
        try:
            return f"{error.status} {json.loads(error.body)['message']}"
        except (TypeError, ValueError, KeyError):
            return f"{error.status} {error.reason}"
    return str(error)


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion in env values, command and args; $$ escapes."""
    out, i = [], 0
    while i < len(value):
        if value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("$(", i) and ")" in value[i:]:
            end = value.index(")", i)
            name = value[i + 2 : end]
            out.append(env.get(name, value[i : end + 1]))
            i = end + 1
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


# ---------------------------------------------------------------------------
# The agent


@dataclass
class Agent:
    """Registers the node, renews its lease and runs a PodRunner for each of its pods."""

    node: str
    workdir: Path
    api: client.ApiClient
    api_port: int
    addresses: Addresses = field(default_factory=Addresses)
    runners: dict[str, PodRunner] = field(default_factory=dict)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: dict[tuple[str, int], tuple[str, float]] = field(default_factory=dict)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def register(self) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node,
                "labels": {
                    "kubernetes.io/hostname": self.node,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "modelkeeper.io/node-agent": "true",
                },
            },
            "spec": {},
        }
        try:
            self.core.create_node(body)
        except ApiException as error:
            if error.status != 409:
                raise
        self.heartbeat()

    def heartbeat(self) -> None:
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "500Gi"}
        stamp = now()
        conditions = [
            {
                "type": kind,
                "status": "False",
                "reason": f"KubeletHas{reason}",
                "message": "node agent",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
            for kind, reason in (
                ("MemoryPressure", "SufficientMemory"),
                ("DiskPressure", "NoDiskPressure"),
                ("PIDPressure", "SufficientPID"),
            )
        ] + [
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "node agent is posting ready status",
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": stamp,
            }
        ]
        status = {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "127.0.0.1"},
                {"type": "Hostname", "address": self.node},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
                "kernelVersion": os.uname().release,
                "osImage": "modelkeeper test ground",
                "containerRuntimeVersion": "nodeagent://1",
                "kubeletVersion": KUBE_VERSION,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
        }
        self.core.patch_node_status(self.node, {"status": status})

    def renew_lease(self) -> None:
        leases = client.CoordinationV1Api(self.api)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.node, "namespace": "kube-node-lease"},
            "spec": {
                "holderIdentity": self.node,
                "leaseDurationSeconds": LEASE_SECONDS,
                "renewTime": micro_now(),
            },
        }
        while not self.stopping.is_set():
            try:
                try:
                    leases.patch_namespaced_lease(
                        self.node, "kube-node-lease", {"spec": {"renewTime": micro_now()}}
                    )
                except ApiException as error:
                    if error.status != 404:
                        raise
                    leases.create_namespaced_lease("kube-node-lease", body)
            except Exception as error:
                log.warning("lease renewal failed: %s", brief(error))
            self.stopping.wait(10)

    def run(self) -> None:
        self.register()
        threading.Thread(target=self.renew_lease, daemon=True, name="lease").start()
        log.info("node %s registered; watching its pods", self.node)
        while not self.stopping.is_set():
            try:
                self.watch_pods()
            except Exception as error:
                if not self.stopping.is_set():
                    log.warning("pod watch ended: %s; listing again", brief(error))
                    time.sleep(1)

    def watch_pods(self) -> None:
        selector = f"spec.nodeName={self.node}"
        listing = self.api.sanitize_for_serialization(
            self.core.list_pod_for_all_namespaces(field_selector=selector)
        )
        for pod in listing["items"]:
            self.observe(pod)
        stream = watch.Watch()
        for event in stream.stream(
            self.core.list_pod_for_all_namespaces,
            field_selector=selector,
            resource_version=listing["metadata"]["resourceVersion"],
            timeout_seconds=60,
        ):
            if self.stopping.is_set():
                stream.stop()
                return
            pod = self.api.sanitize_for_serialization(event["object"])
            if event["type"] in ("ADDED", "MODIFIED"):
                self.observe(pod)

    def observe(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            runner = self.runners.get(uid)
            if runner is not None:
                runner.update(pod)
                return
            if pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
                if pod["metadata"].get("deletionTimestamp"):
                    self.delete_pod(pod["metadata"]["namespace"], pod["metadata"]["name"], uid)
                return
            runner = PodRunner(self, pod)
            self.runners[uid] = runner
        runner.start()

    def forget(self, uid: str) -> None:
        with self.lock:
            self.runners.pop(uid, None)
            for key in [key for key in self.tokens if key[0] == uid]:
                del self.tokens[key]

    def delete_pod(self, namespace: str, name: str, uid: str) -> None:
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(
                name,
                namespace,
                grace_period_seconds=0,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0, preconditions=client.V1Preconditions(uid=uid)
                ),
            )

    def config_data(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """A ConfigMap's or Secret's data as text (secrets decoded), or None when absent."""
        try:
            if kind == "configmap":
                found = self.core.read_namespaced_config_map(name, namespace)
                return dict(found.data or {})
            secret = self.core.read_namespaced_secret(name, namespace)
            return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def token(self, pod: Obj, expiration: int | None) -> str:
        """A service-account token bound to the pod, as the kubelet's projected volume holds.

        Reused until 80% of its lifetime has passed, as the kubelet rotates it.
        """
        lifetime = int(expiration or 3607)
        key = (pod["metadata"]["uid"], lifetime)
        cached = self.tokens.get(key)
        if cached and time.monotonic() < cached[1]:
            return cached[0]
        request = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "audiences": [],
                "expirationSeconds": lifetime,
                "boundObjectRef": {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            },
        }
        sa = pod["spec"].get("serviceAccountName") or "default"
        answer = self.core.create_namespaced_service_account_token(
            sa, pod["metadata"]["namespace"], request
        )
        token = str(answer.status.token)
        self.tokens[key] = (token, time.monotonic() + 0.8 * lifetime)
        return token

    def event(self, pod: Obj, kind: str, reason: str, message: str) -> None:
        meta = pod["metadata"]
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "kind": "Pod",
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "apiVersion": "v1",
            },
            "reason": reason,
            "message": message,
            "type": kind,
            "source": {"component": "kubelet", "host": self.node},
            "firstTimestamp": now(),
            "lastTimestamp": now(),
            "count": 1,
        }
        with contextlib.suppress(ApiException):
            self.core.create_namespaced_event(meta["namespace"], body)

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            runners = list(self.runners.values())
        for runner in runners:
            runner.stop()


def _api_port(api: client.ApiClient) -> int:
    host = str(api.configuration.host)
    return int(host.rsplit(":", 1)[1].split("/")[0])


@contextlib.contextmanager
def _signals(agent: Agent) -> Iterator[None]:
    def shutdown(signum: int, frame: FrameType | None) -> None:
        agent.stopping.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, shutdown)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="nodeagent", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--workdir", required=True, type=Path)
    parser.add_argument("--node", default="ground-node")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(threadName)s %(message)s"
    )
    if shutil.which("unshare") is None:
        log.error("the node agent needs `unshare` (util-linux) to give containers their own mounts")
        return 1
    api = config.new_client_from_config(config_file=args.kubeconfig)
    agent = Agent(args.node, args.workdir, api, _api_port(api))
    with _signals(agent):
        try:
            agent.run()
        except KeyboardInterrupt:
            pass
        finally:
            agent.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
