"""Whether a backend can run here, asked before a campaign starts."""

from __future__ import annotations

from harness.errors import BackendError


def preflight(backend: str) -> None:
    """Raise BackendError saying why ``backend`` cannot run on this machine, if it cannot."""
    if backend == "netns":
        from harness.backends.netns import check_supported

        check_supported()
    elif backend == "docker":
        from harness.backends.docker import docker_client
        from harness.backends.netns import check_supported

        try:
            check_supported()  # entering containers' namespaces needs root, as netns does
        except BackendError as exc:
            raise BackendError(str(exc).replace("netns", "docker")) from None
        docker_client().close()
    elif backend != "loopback":
        raise BackendError(f"unknown backend {backend!r} (one of loopback, netns, docker)")
