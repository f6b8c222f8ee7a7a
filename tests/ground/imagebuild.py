"""The ground's container images, built offline from the repository with podman.

There is no registry to pull from, so every image starts from something built here:
a Debian base made by debootstrap from the apt mirror (tagged with the name the
serving Dockerfile's `FROM` uses by default), the Modelkeeper image from
serving_image/Dockerfile as a user would build it, two model images FROM it made from
serving_image/model-template/ as its README says (a constant estimator, and the
custom-code example as format `python`), the testbox workload and the kubelet's pause
image compiled from the Kubernetes module's pause.c. Each image is keyed by a hash of
its inputs; the docker-archives (for `ctr images import`; the model images in the
Modelkeeper image's) are kept under the cache and saved again only when a key changes.

    python -m tests.ground.imagebuild     # build what is missing, print the archives
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelkeeper import __version__
from tests.ground.binaries import cache_dir
from tests.ground.processes import GroundError, log_tail

REPO = Path(__file__).resolve().parents[2]
SERVING_DOCKERFILE = REPO / "serving_image" / "Dockerfile"
MODEL_TEMPLATE = REPO / "serving_image" / "model-template"
MODEL_TEMPLATE_DOCKERFILE = MODEL_TEMPLATE / "Dockerfile"
CUSTOM_CODE_TEMPLATE = MODEL_TEMPLATE / "custom-code"
KUBE_MODULE_DIR = REPO / "tests" / "ground" / "kube"

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"
MODELKEEPER_IMAGE = f"ghcr.io/modelkeeper/modelkeeper:{__version__}"
TEST_MODEL_IMAGE = "ghcr.io/modelkeeper/test-model:1"
CUSTOM_MODEL_IMAGE = "ghcr.io/modelkeeper/custom-model:1"
ARCHIVES_KEPT = 3
"""Archives of one image kept by key: git worktrees side by side each build their own code's."""
TESTBOX_IMAGE = "ghcr.io/modelkeeper/testbox:1"
# The docker-archives by file name stem, each with the images it holds. The model images
# share the Modelkeeper image's archive, which holds their common 0.8 GB of layers once:
# `ctr images import` reads every layer of an archive, so each model image in an archive
# of its own made every node start about 30 s longer.
ARCHIVES = {
    "pause-3.10": (PAUSE_IMAGE,),
    f"modelkeeper-{__version__}": (MODELKEEPER_IMAGE, TEST_MODEL_IMAGE, CUSTOM_MODEL_IMAGE),
    "testbox-1": (TESTBOX_IMAGE,),
}
IMAGES = [name for names in ARCHIVES.values() for name in names]

# What the test model image serves: `tests.support.models.write_constant_model`'s regressor.
TEST_MODEL_CONSTANT = 42.5
# The uid testbox runs as (nobody): any non-root uid will do, it writes nothing.
TESTBOX_UID = 65534

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
# The image key's label: an image in the store is reused only if its label matches.
KEY_LABEL = "io.modelkeeper.ground.key"

# The base rootfs: minbase plus Python, trimmed like Debian's slim images (no docs, man
# pages, apt lists or caches), then tarred for `podman import`. Its text is in the key.
_BASE_SCRIPT = r"""
set -euo pipefail
rootfs=$1 suite=$2 mirror=$3 packages=$4 tarball=$5
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror"
chroot "$rootfs" apt-get clean
echo "deb $mirror $suite main" >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/var/log/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/usr/share/lintian "$rootfs"/etc/resolv.conf "$rootfs"/etc/hostname
find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$rootfs" -xdev -name __pycache__ -type d -prune -exec rm -rf {} +
chroot "$rootfs" python3 -c 'import ensurepip, venv, ssl'
tar --numeric-owner --xattrs -C "$rootfs" -cf "$tarball" .
"""

_BASE_CHANGES = (
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    'CMD ["python3"]',
)

_TESTBOX_DOCKERFILE = f"""\
ARG BASE_IMAGE
FROM ${{BASE_IMAGE}}
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY testbox.py /opt/testbox/testbox.py
USER {TESTBOX_UID}:{TESTBOX_UID}
ENTRYPOINT ["python3", "/opt/testbox/testbox.py"]
CMD ["http"]
"""

_PAUSE_DOCKERFILE = """\
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
"""
_PAUSE_CFLAGS = ("-static", "-O2", "-Wall", "-Werror", "-DVERSION=3.10")

# The host's CA bundle, mounted into build stages only, for pip's TLS (see the Dockerfile).
_HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")
_BUILD_CA = "/run/host-ca.pem"


def podman_dir() -> Path:
    """podman's storage and configuration: the project's own, not the machine's."""
    return cache_dir() / "podman"


def images_dir() -> Path:
    """The docker-archives, the build logs and the lock."""
    return cache_dir() / "images"


def podman_environment() -> dict[str, str]:
    """The environment for podman with the project's storage, writing its configuration.

    Set CONTAINERS_STORAGE_CONF and CONTAINERS_CONF as here to look at the images by
    hand. The default ulimits stay under this machine's hard limits (runc cannot raise
    them without CAP_SYS_RESOURCE); the host's PIP_* settings are left out.
    """
    root = podman_dir()
    root.mkdir(parents=True, exist_ok=True)
    storage = root / "storage.conf"
    _write_if_changed(
        storage,
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{root / "storage"}"\n'
        f'runroot = "{root / "run"}"\n',
    )
    containers = root / "containers.conf"
    _write_if_changed(
        containers,
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{root / "events.log"}"\n'
        f'tmp_dir = "{root / "tmp"}"\n',
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("PIP_")}
    env["CONTAINERS_STORAGE_CONF"] = str(storage)
    env["CONTAINERS_CONF"] = str(containers)
    return env


def _write_if_changed(path: Path, text: str) -> None:
    """Rewrite a configuration file only when it differs: another build may be reading it."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def _digest(*parts: str | bytes) -> str:
    """A short hash of the parts, each length-prefixed so that no two splits collide."""
    sha = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        sha.update(f"{len(data)}:".encode())
        sha.update(data)
    return sha.hexdigest()[:16]


def _tree_digest(root: Path, relative_to: Path) -> str:
    """A hash of every file under `root` (names and contents), caches left out."""
    parts: list[str | bytes] = []
    for path in sorted(root.rglob("*")):
        if path.is_dir() or _ignored(path):
            continue
        parts += [str(path.relative_to(relative_to)), path.read_bytes()]
    return _digest(*parts)


def _ignored(path: Path) -> bool:
    """Caches a run leaves in the source tree, which must not change a key."""
    return any(p == "__pycache__" or p.endswith(".egg-info") for p in path.parts) or (
        path.suffix in {".pyc", ".pyo"}
    )


def base_image_name() -> str:
    """The default of serving_image/Dockerfile's `ARG PYTHON_IMAGE`: the base's tag."""
    for line in SERVING_DOCKERFILE.read_text().splitlines():
        if line.startswith("ARG PYTHON_IMAGE="):
            return line.split("=", 1)[1].strip()
    raise GroundError(f"no `ARG PYTHON_IMAGE=` default in {SERVING_DOCKERFILE}")


def pause_source() -> Path:
    """pause.c from the Kubernetes Go module the ground builds from (downloaded if need be)."""
    env = {**os.environ, "GOTOOLCHAIN": "local"}

    def module_dir() -> str:
        result = subprocess.run(
            ["go", "list", "-m", "-f", "{{.Dir}}", "k8s.io/kubernetes"],
            cwd=KUBE_MODULE_DIR,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    try:
        directory = module_dir()
        if not directory or not Path(directory).is_dir():
            subprocess.run(
                ["go", "mod", "download", "k8s.io/kubernetes"],
                cwd=KUBE_MODULE_DIR,
                env=env,
                capture_output=True,
                check=True,
            )
            directory = module_dir()
    except (OSError, subprocess.CalledProcessError) as error:
        raise GroundError(
            f"cannot find the k8s.io/kubernetes module for pause.c: {error}"
        ) from error
    source = Path(directory) / "build" / "pause" / "linux" / "pause.c"
    if not source.is_file():
        raise GroundError(f"no pause.c at {source}")
    return source


@dataclass(frozen=True)
class _Image:
    """One image: its tag, its archive's file name stem, its key and how to build it."""

    name: str
    stem: str
    key: Callable[[], str]
    build: Callable[[_Builder, str], None]
    parent: _Image | None = None


class _Builder:
    """Runs podman with the project's storage, logging every command to one file per image."""

    def __init__(self) -> None:
        self.env = podman_environment()
        self.logs = images_dir() / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.log = self.logs / "imagebuild.log"
        self.replaced: list[tuple[str, str]] = []  # (image ID, its key)

    @contextlib.contextmanager
    def logging_to(self, stem: str) -> Iterator[None]:
        previous, self.log = self.log, self.logs / f"{stem}.log"
        self.log.write_text("")
        try:
            yield
        finally:
            self.log = previous

    def run(self, argv: Sequence[str], what: str, cwd: Path | None = None) -> None:
        """Run a build command into the current log; a failure shows the log's tail."""
        with self.log.open("a") as log:
            log.write(f"\n$ {' '.join(argv)}\n")
            log.flush()
            try:
                result = subprocess.run(
                    list(argv),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                    cwd=cwd,
                    check=False,
                )
            except OSError as error:
                raise GroundError(f"{what}: cannot run {argv[0]}: {error}") from error
        if result.returncode != 0:
            raise GroundError(
                f"{what} failed (exit {result.returncode}); log: {self.log}\n"
                f"--- last lines of {self.log.name} ---\n{log_tail(self.log)}"
            )

    def output(self, argv: Sequence[str]) -> str | None:
        """A podman query's output, or None when it fails (no such image, say)."""
        result = subprocess.run(
            list(argv), env=self.env, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else None

    def image_id(self, name: str) -> str | None:
        """The ID of the image tagged `name`, None if there is none."""
        return self.output(["podman", "image", "inspect", "--format", "{{.Id}}", name])

    def remove_replaced(self) -> None:
        """Remove what rebuilds left behind, children first: each replaced image (about
        0.6 GB) and the last image of its build stage (same key label), with whatever
        parents only they used. Not a blanket `podman image prune`: the current build
        stage's untagged images are podman's layer cache.
        """
        for image_id, key in reversed(self.replaced):
            self.output(["podman", "rmi", image_id])
            if not key:
                continue
            leftovers = self.output(
                [
                    "podman",
                    "images",
                    "--quiet",
                    "--filter",
                    "dangling=true",
                    "--filter",
                    f"label={KEY_LABEL}={key}",
                ]
            )
            for leftover in (leftovers or "").split():
                self.output(["podman", "rmi", leftover])
        self.replaced.clear()

    def key_of(self, name: str) -> str | None:
        """The key label of the image tagged `name` in the store, None if there is none."""
        return self.output(
            ["podman", "image", "inspect", "--format", f'{{{{index .Labels "{KEY_LABEL}"}}}}', name]
        )

    def build(self, name: str, key: str, context: Path, dockerfile: Path, *args: str) -> None:
        """`podman build` offline (never pull), host network for pip, labelled with its key."""
        self.run(
            [
                "podman",
                "build",
                "--pull=never",
                "--network=host",
                "--label",
                f"{KEY_LABEL}={key}",
                "--tag",
                name,
                "--file",
                str(dockerfile),
                *args,
                str(context),
            ],
            f"building {name}",
        )


def _base_key() -> str:
    return _digest(
        _BASE_SCRIPT, *_BASE_CHANGES, " ".join(BASE_PACKAGES), DEBIAN_SUITE, DEBIAN_MIRROR
    )


def _build_base(builder: _Builder, key: str) -> None:
    """debootstrap a minimal bookworm with Python, `podman import` it as the base's tag."""
    work = podman_dir() / "base-work"
    _remove_tree(work)
    work.mkdir(parents=True)
    tarball = work / "rootfs.tar"
    try:
        builder.run(
            [
                "bash",
                "-c",
                _BASE_SCRIPT,
                "base",
                str(work / "rootfs"),
                DEBIAN_SUITE,
                DEBIAN_MIRROR,
                ",".join(BASE_PACKAGES),
                str(tarball),
            ],
            "debootstrap of the base image",
        )
        changes = [arg for change in _BASE_CHANGES for arg in ("--change", change)]
        builder.run(
            [
                "podman",
                "import",
                *changes,
                "--change",
                f"LABEL {KEY_LABEL}={key}",
                str(tarball),
                base_image_name(),
            ],
            "podman import of the base image",
        )
    finally:
        _remove_tree(work)


def _remove_tree(path: Path) -> None:
    """Remove a debootstrap tree, whose /proc may still be mounted after a failure."""
    for mount in ("proc", "sys"):
        target = path / "rootfs" / mount
        if target.is_mount():
            subprocess.run(["umount", "-l", str(target)], check=False)
    shutil.rmtree(path, ignore_errors=True)


_MODELKEEPER_INPUTS = (
    "serving_image/Dockerfile",
    "serving_image/requirements.txt",
    "pyproject.toml",
    "README.md",
)


def _modelkeeper_key() -> str:
    return _digest(
        _base_key(),
        *(part for name in _MODELKEEPER_INPUTS for part in (name, (REPO / name).read_bytes())),
        _tree_digest(REPO / "operator", REPO),
    )


def _build_modelkeeper(builder: _Builder, key: str) -> None:
    """serving_image/Dockerfile, unchanged, on a context of just the files it copies."""
    with tempfile.TemporaryDirectory(prefix="modelkeeper-image-") as temp:
        context = Path(temp)
        for name in _MODELKEEPER_INPUTS:
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, context / name)
        shutil.copytree(
            REPO / "operator",
            context / "operator",
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
        )
        builder.build(
            MODELKEEPER_IMAGE,
            key,
            context,
            context / "serving_image" / "Dockerfile",
            "--volume",
            f"{_HOST_CA}:{_BUILD_CA}:ro",
            "--build-arg",
            f"PIP_CERT={_BUILD_CA}",
        )


_MODEL_WRITER = REPO / "tests" / "support" / "models.py"


def _model_image_key(*inputs: str | bytes) -> str:
    """A model image's key: its parent's, the template's Dockerfile and what writes model/."""
    return _digest(_modelkeeper_key(), MODEL_TEMPLATE_DOCKERFILE.read_bytes(), *inputs)


def _test_model_key() -> str:
    return _model_image_key(_MODEL_WRITER.read_bytes(), repr(TEST_MODEL_CONSTANT))


def _custom_model_key() -> str:
    # The estimator is pickled by this Python's scikit-learn, which the image's must read.
    return _model_image_key(
        _tree_digest(CUSTOM_CODE_TEMPLATE, REPO), importlib.metadata.version("scikit-learn")
    )


def _write_constant_model(builder: _Builder, context: Path) -> None:
    """model/ with `write_constant_model`'s regressor, predicting TEST_MODEL_CONSTANT."""
    from tests.support.models import write_constant_model

    write_constant_model(context / "model", TEST_MODEL_CONSTANT)


def _train_custom_code(builder: _Builder, context: Path) -> None:
    """model/ as the template's README says: `python custom-code/train.py model`."""
    builder.run(
        [sys.executable, "custom-code/train.py", "model"],
        "training the custom-code example",
        cwd=context,
    )


def _build_model_image(
    write_model: Callable[[_Builder, Path], None],
    build_args: Sequence[str],
    name: str,
    builder: _Builder,
    key: str,
) -> None:
    """A copy of the model template with model/ written in it, built FROM the Modelkeeper
    image with the template's Dockerfile and `build_args`, as a data scientist builds it."""
    with tempfile.TemporaryDirectory(prefix="model-image-") as temp:
        context = Path(temp) / "image"
        shutil.copytree(
            MODEL_TEMPLATE, context, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
        write_model(builder, context)
        for path in (context / "model").iterdir():
            path.chmod(0o644)
        builder.build(
            name,
            key,
            context,
            context / "Dockerfile",
            "--build-arg",
            f"SERVING_IMAGE={MODELKEEPER_IMAGE}",
            *build_args,
        )


_TESTBOX = REPO / "tests" / "ground" / "testbox.py"


def _testbox_key() -> str:
    return _digest(_base_key(), _TESTBOX_DOCKERFILE, _TESTBOX.read_bytes())


def _build_testbox(builder: _Builder, key: str) -> None:
    """testbox.py (stdlib only) on the base image's Python."""
    with tempfile.TemporaryDirectory(prefix="testbox-image-") as temp:
        context = Path(temp)
        shutil.copy2(_TESTBOX, context / "testbox.py")
        (context / "testbox.py").chmod(0o644)
        (context / "Dockerfile").write_text(_TESTBOX_DOCKERFILE)
        builder.build(
            TESTBOX_IMAGE,
            key,
            context,
            context / "Dockerfile",
            "--build-arg",
            f"BASE_IMAGE={base_image_name()}",
        )


def _pause_key() -> str:
    return _digest(pause_source().read_bytes(), *_PAUSE_CFLAGS, _PAUSE_DOCKERFILE)


def _build_pause(builder: _Builder, key: str) -> None:
    """pause.c linked statically into a FROM scratch image, as upstream ships it."""
    with tempfile.TemporaryDirectory(prefix="pause-image-") as temp:
        context = Path(temp)
        builder.run(
            ["gcc", *_PAUSE_CFLAGS, "-o", str(context / "pause"), str(pause_source())],
            "compiling pause.c",
        )
        builder.run(["strip", str(context / "pause")], "stripping pause")
        (context / "Dockerfile").write_text(_PAUSE_DOCKERFILE)
        builder.build(PAUSE_IMAGE, key, context, context / "Dockerfile")


def _images() -> dict[str, _Image]:
    """Every image by name, the base first; the base is not exported (nothing runs it)."""
    base = _Image(base_image_name(), "base", _base_key, _build_base)
    modelkeeper = _Image(
        MODELKEEPER_IMAGE, f"modelkeeper-{__version__}", _modelkeeper_key, _build_modelkeeper, base
    )
    return {
        image.name: image
        for image in (
            base,
            _Image(PAUSE_IMAGE, "pause-3.10", _pause_key, _build_pause),
            modelkeeper,
            _Image(
                TEST_MODEL_IMAGE,
                "test-model-1",
                _test_model_key,
                functools.partial(_build_model_image, _write_constant_model, (), TEST_MODEL_IMAGE),
                modelkeeper,
            ),
            _Image(
                CUSTOM_MODEL_IMAGE,
                "custom-model-1",
                _custom_model_key,
                functools.partial(
                    _build_model_image,
                    _train_custom_code,
                    ("--build-arg", "MODEL_FORMAT=python"),
                    CUSTOM_MODEL_IMAGE,
                ),
                modelkeeper,
            ),
            _Image(TESTBOX_IMAGE, "testbox-1", _testbox_key, _build_testbox, base),
        )
    }


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """One builder at a time on this cache: a second caller waits, then finds it all built."""
    directory = images_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure(
    builder: _Builder, image: _Image, keys: dict[str, str], report: Callable[[str], None]
) -> None:
    """The image in podman's store with its key: built (parents first) if not."""
    key = keys[image.name]
    if builder.key_of(image.name) == key:
        return
    if image.parent is not None:
        _ensure(builder, image.parent, keys, report)
    started = time.monotonic()
    previous = builder.image_id(image.name), builder.key_of(image.name)
    with builder.logging_to(image.stem):
        image.build(builder, key)
    if previous[0] is not None and previous[0] != builder.image_id(image.name):
        builder.replaced.append((previous[0], previous[1] or ""))
    report(f"built {image.name} ({key}) in {time.monotonic() - started:.1f} s")


def _archive_key(names: Sequence[str], keys: dict[str, str]) -> str:
    """An archive's key: its image's, or a hash of its images' keys when it holds several."""
    return keys[names[0]] if len(names) == 1 else _digest(*(keys[name] for name in names))


def _save(
    builder: _Builder,
    stem: str,
    names: Sequence[str],
    archive: Path,
    report: Callable[[str], None],
) -> None:
    """`podman save` the images into one docker-archive under their full names (shared
    layers once), atomically; only the newest ARCHIVES_KEPT keys of a stem stay."""
    started = time.monotonic()
    partial = archive.with_name(f".{archive.name}.partial")
    partial.unlink(missing_ok=True)
    with builder.logging_to(f"{stem}-save"):
        builder.run(
            [
                "podman",
                "save",
                "--multi-image-archive",
                "--format",
                "docker-archive",
                "-o",
                str(partial),
                *names,
            ],
            f"saving {', '.join(names)}",
        )
    partial.rename(archive)
    older = sorted(
        (old for old in archive.parent.glob(f"{stem}-*.tar") if old != archive),
        key=lambda old: old.stat().st_mtime,
        reverse=True,
    )
    for old in older[ARCHIVES_KEPT - 1 :]:
        old.unlink(missing_ok=True)
    report(f"saved {archive.name} in {time.monotonic() - started:.1f} s")


def image_archives(report: Callable[[str], None] | None = None) -> dict[str, Path]:
    """The docker-archive holding each of IMAGES, by image name in that order, building
    whatever is missing (images that share an archive map to the same file).

    Cached by key: an archive whose key is current is returned as is; otherwise its
    images are built (or found in podman's store) and saved. Raises GroundError with the
    build log's tail when a build fails. Safe to call from two processes at once.
    """
    say = report or (lambda message: None)
    with _locked():
        specs = _images()
        # Each key once, up front: a file edited during the build (the repository is shared)
        # must not give a child image a parent other than the one its archive holds.
        keys = {name: image.key() for name, image in specs.items()}
        builder = _Builder()
        archives: dict[str, Path] = {}
        for stem, names in ARCHIVES.items():
            archive = images_dir() / f"{stem}-{_archive_key(names, keys)}.tar"
            if not archive.exists():
                for name in names:
                    _ensure(builder, specs[name], keys, say)
                _save(builder, stem, names, archive, say)
            archives.update(dict.fromkeys(names, archive))
        builder.remove_replaced()
        return archives


def main() -> int:
    """Build every image, print each with its archive and the archive's size, and the time."""
    started = time.monotonic()

    def report(message: str) -> None:
        print(f"imagebuild: {message}", file=sys.stderr, flush=True)

    try:
        archives = image_archives(report)
    except GroundError as error:
        print(f"imagebuild: FAILED: {error}", file=sys.stderr)
        return 1
    for name, archive in archives.items():
        print(f"{name}\t{archive}\t{archive.stat().st_size / 1e6:.1f} MB", flush=True)
    report(
        f"{len(archives)} images in {len(set(archives.values()))} archives ready "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
