"""The sandbox image: find the engine, build the image, bootstrap an air-gapped base.

The image is tagged with a hash of the Dockerfile, so editing it makes a new
tag and the next build really rebuilds. Where no registry can be reached,
`bootstrap_base` makes the base image from Debian's own packages with
mmdebstrap (or debootstrap) and `docker import`s it.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from sandbox.errors import ImageMissing, SandboxError

__all__ = [
    "BASE_PACKAGES",
    "PYTHON_IMAGE",
    "BuildResult",
    "ImageSpec",
    "bootstrap_base",
    "build_image",
    "docker_client",
    "dockerfile_path",
    "image_tag",
    "require_image",
]

log = logging.getLogger(__name__)

IMAGE_REPO = "greenloop-sandbox"
BASE_REPO = "greenloop-base"
DEFAULT_BASE = "python:3.12-slim"
BASE_PACKAGES = (
    "python3",
    "python3-pytest",
    "python3-coverage",
    "python3-pip",
    "git",
    "ca-certificates",
)
"""What the bootstrapped base holds; its tag carries a hash of this list, so a change rebuilds."""


@dataclass(frozen=True)
class ImageSpec:
    """One toolchain's sandbox image: its Dockerfile, its tag's name, the base a
    registry gives, and what a base bootstrapped from Debian's packages holds."""

    repo: str = IMAGE_REPO
    dockerfile: str = ""
    """Relative to the checkout's root (or the installed share folder); "" is the root's
    own `Dockerfile` (Python's)."""
    default_base: str = DEFAULT_BASE
    packages: tuple[str, ...] = BASE_PACKAGES
    suite: str | None = None
    """The Debian suite to bootstrap (None: the host's own, else bookworm)."""
    toolchain: str = "python"

    @property
    def build_command(self) -> str:
        flag = "" if self.toolchain == "python" else f" --toolchain {self.toolchain}"
        return f"greenloop sandbox build{flag}"


PYTHON_IMAGE = ImageSpec()
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


@dataclass(frozen=True)
class BuildResult:
    """What `build_image` did."""

    tag: str
    base: str
    built: bool
    """False when an image with this tag already existed and was reused."""
    bootstrapped: bool = False


def docker_client() -> Any:
    """A client for the engine DOCKER_HOST names (or the local socket), checked to answer."""
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as exc:
        raise SandboxError(
            f"no Docker engine answers ({exc})",
            fix="install and start it (apt-get install docker.io && dockerd &), or point "
            "DOCKER_HOST at one; or run with --sandbox local (not isolation)",
        ) from exc
    return client


def dockerfile_path(spec: ImageSpec = PYTHON_IMAGE) -> Path:
    """The toolchain's Dockerfile: in the checkout, else the installed copy."""
    name = spec.dockerfile or "Dockerfile"
    candidates = [
        Path(__file__).resolve().parents[1] / name,
        Path(sys.prefix) / "share" / "greenloop" / name,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise SandboxError("the sandbox Dockerfile is missing: reinstall greenloop")


def image_tag(dockerfile: Path | None = None, spec: ImageSpec = PYTHON_IMAGE) -> str:
    """`greenloop-sandbox:<hash>`: a change to the Dockerfile (or to the bootstrapped
    base's package list) gives a new tag."""
    text = (dockerfile or dockerfile_path(spec)).read_bytes() + _packages_key(spec).encode()
    return f"{spec.repo}:{hashlib.sha256(text).hexdigest()[:12]}"


def _packages_key(spec: ImageSpec = PYTHON_IMAGE) -> str:
    return hashlib.sha256(",".join(spec.packages).encode()).hexdigest()[:8]


def _has_image(client: Any, ref: str) -> bool:
    try:
        client.images.get(ref)
    except docker.errors.ImageNotFound:
        return False
    return True


def require_image(client: Any, image: str | None = None, spec: ImageSpec = PYTHON_IMAGE) -> str:
    """The image to run: given, or the toolchain's current build; ImageMissing names the fix."""
    ref = image or image_tag(spec=spec)
    if not _has_image(client, ref):
        command = spec.build_command
        raise ImageMissing(
            f"the {spec.toolchain} sandbox image {ref} is not built",
            fix=f"{command} (or `{command} --bootstrap` where no registry is reachable)",
        )
    return ref


def _suite() -> str:
    """The host's Debian codename when it has one, else bookworm."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME=") and line.split("=", 1)[1].strip():
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "bookworm"


def _bootstrap_tar(suite: str, out: Path, packages: tuple[str, ...]) -> None:
    include = ",".join(packages)
    if shutil.which("mmdebstrap"):
        cmd = ["mmdebstrap", "--variant=minbase", f"--include={include}", suite, str(out)]
        _run_tool(cmd)
        return
    if shutil.which("debootstrap"):
        root = out.parent / "rootfs"
        _run_tool(["debootstrap", "--variant=minbase", f"--include={include}", suite, str(root)])
        _run_tool(["tar", "-C", str(root), "-cf", str(out), "."])
        return
    raise SandboxError(
        "cannot bootstrap a base image: neither mmdebstrap nor debootstrap is installed",
        fix="apt-get install mmdebstrap",
    )


def _run_tool(cmd: list[str]) -> None:
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout)[-2000:]
        raise SandboxError(f"{cmd[0]} failed (exit {proc.returncode}):\n{tail}")


def bootstrap_base(
    client: Any, suite: str | None = None, force: bool = False, spec: ImageSpec = PYTHON_IMAGE
) -> str:
    """Make `greenloop-base:<suite>-<packages hash>` from Debian's packages; reuse it if there."""
    suite = suite or spec.suite or _suite()
    tag = f"{suite}-{_packages_key(spec)}"
    ref = f"{BASE_REPO}:{tag}"
    if not force and _has_image(client, ref):
        log.info("reusing base image %s", ref)
        return ref
    with tempfile.TemporaryDirectory(prefix="greenloop-bootstrap-") as tmp:
        tar = Path(tmp) / "base.tar"
        _bootstrap_tar(suite, tar, spec.packages)
        try:
            client.api.import_image_from_file(
                str(tar), repository=BASE_REPO, tag=tag, changes=['CMD ["/bin/sh"]']
            )
        except docker.errors.APIError as exc:
            raise SandboxError(f"docker import of the bootstrapped base failed: {exc}") from exc
    return ref


def build_image(
    client: Any,
    *,
    base: str | None = None,
    bootstrap: bool = False,
    force: bool = False,
    spec: ImageSpec = PYTHON_IMAGE,
) -> BuildResult:
    """Build the toolchain's sandbox image (reused when the tag exists, unless `force`)."""
    tag = image_tag(spec=spec)
    if bootstrap:
        base = bootstrap_base(client, force=False, spec=spec)
    base = base or spec.default_base
    if not force and _has_image(client, tag):
        return BuildResult(tag=tag, base=base, built=False, bootstrapped=bootstrap)
    with tempfile.TemporaryDirectory(prefix="greenloop-build-") as ctx:
        shutil.copy(dockerfile_path(spec), Path(ctx) / "Dockerfile")
        ca = Path(ctx) / "host-ca.crt"
        ca.write_bytes(HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.is_file() else b"")
        try:
            client.images.build(
                path=ctx,
                tag=tag,
                buildargs={"BASE_IMAGE": base},
                rm=True,
                forcerm=True,
                labels={"greenloop.image": "sandbox"},
            )
        except (docker.errors.BuildError, docker.errors.APIError) as exc:
            raise _build_failure(base, exc, spec) from exc
    return BuildResult(tag=tag, base=base, built=True, bootstrapped=bootstrap)


def _build_failure(base: str, exc: Exception, spec: ImageSpec) -> SandboxError:
    text = str(exc)
    if not base.startswith(BASE_REPO):
        return SandboxError(
            f"building the sandbox image on {base} failed: {text[-1500:]}\n"
            "If the base image cannot be pulled (no registry reachable), run "
            f"`{spec.build_command} --bootstrap`."
        )
    return SandboxError(f"building the sandbox image on {base} failed: {text[-1500:]}")
