"""Images of the docker backend: the peer image and DUT images, built when absent.

The Dockerfiles take ``ARG BASE_IMAGE`` (default ``debian:bookworm-slim``). Where no
registry is reachable, ``containers/base/build-base.sh`` makes an equivalent local base
(``onboardcheck/base:bookworm``) with debootstrap; ``base_image()`` picks what exists.
Builds hold a lock file next to the private daemon's data, so two runs (or a CI step
building ahead) do not build the same image at once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import BackendError

if TYPE_CHECKING:
    import docker

REPO = Path(__file__).resolve().parents[2]
PEER_IMAGE = "onboardcheck/peer"
PEER_DOCKERFILE = REPO / "containers" / "peer" / "Dockerfile"
REGISTRY_BASE = "debian:bookworm-slim"
LOCAL_BASE = "onboardcheck/base:bookworm"
BUILD_BASE = REPO / "containers" / "base" / "build-base.sh"
IMAGE_LABEL = "org.onboardcheck.image"  # on every image the harness builds
BUILD_TIMEOUT = 1800.0


def docker_dir() -> Path:
    """The private daemon's folder (scripts/dockerd): socket, data, locks."""
    return Path(os.environ.get("ONBOARDCHECK_DOCKER_DIR", "/var/tmp/onboardcheck-docker"))


def docker_host() -> str | None:
    """DOCKER_HOST, else the private daemon's socket if it exists, else None (the
    default socket)."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    private = docker_dir() / "docker.sock"
    return f"unix://{private}" if private.is_socket() else None


@contextmanager
def build_lock() -> Iterator[None]:
    folder = docker_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def has_image(client: docker.DockerClient, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise BackendError(f"cannot look up image {tag}: {exc}") from exc


def base_image(client: docker.DockerClient) -> str:
    """The base to build on: ONBOARDCHECK_BASE_IMAGE, else a present registry base, else
    the local debootstrap base (made now if absent: no registry is assumed)."""
    chosen = os.environ.get("ONBOARDCHECK_BASE_IMAGE")
    if chosen:
        return chosen
    if has_image(client, REGISTRY_BASE):
        return REGISTRY_BASE
    if not has_image(client, LOCAL_BASE):
        _run_build_base(client)
    return LOCAL_BASE


def _run_build_base(client: docker.DockerClient) -> None:
    env = dict(os.environ)
    host = docker_host()
    if host:
        env["DOCKER_HOST"] = host
    try:
        done = subprocess.run(["bash", str(BUILD_BASE), LOCAL_BASE], env=env, check=False,
                              capture_output=True, text=True, timeout=BUILD_TIMEOUT)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"cannot build the base image {LOCAL_BASE}: {exc}") from exc
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-10:])
        raise BackendError(f"building the base image {LOCAL_BASE} failed:\n{tail}")


def ensure_image(client: docker.DockerClient, tag: str, dockerfile: Path | None = None,
                 context: Path | None = None) -> str:  # fmt: skip
    """``tag``, built from ``dockerfile`` (context: ``context`` or its folder) if absent."""
    import docker.errors

    with build_lock():
        if has_image(client, tag):
            return tag
        if dockerfile is None:
            raise BackendError(f"image {tag} is not on the docker daemon and the DUT profile "
                               "names no dockerfile to build it from")  # fmt: skip
        context = context or dockerfile.parent
        base = base_image(client)
        try:
            client.images.build(
                path=str(context), dockerfile=str(dockerfile.resolve().relative_to(context)),
                tag=tag, buildargs={"BASE_IMAGE": base}, labels={IMAGE_LABEL: tag},
                rm=True, forcerm=True,  # no intermediate containers left, even on failure
            )  # fmt: skip
        except ValueError as exc:  # the Dockerfile outside its context
            raise BackendError(f"cannot build {tag}: {dockerfile} is not inside {context}") from exc
        except docker.errors.BuildError as exc:
            lines = [str(item.get("stream") or item.get("error") or "").rstrip()
                     for item in exc.build_log][-15:]  # fmt: skip
            raise BackendError(f"building {tag} failed: {exc.msg}\n" + "\n".join(lines)) from exc
        except docker.errors.DockerException as exc:
            raise BackendError(f"building {tag} failed: {exc}") from exc
        return tag


def ensure_peer_image(client: docker.DockerClient) -> str:
    return ensure_image(client, PEER_IMAGE, PEER_DOCKERFILE, REPO)

