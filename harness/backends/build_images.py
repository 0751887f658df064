"""Build the images the docker backend uses, where the daemon lacks them.

    python -m harness.backends.build_images [--rebuild]

The peer image and the DUT image of every profile under duts/ with a
``control.container`` section (its ``dockerfile``); the base as
``harness.backends.docker_images.base_image`` chooses it. DOCKER_HOST, else the private
daemon (scripts/dockerd), else the default one. Exit 1 with the build's last lines when
one fails.
"""

from __future__ import annotations

import sys
from pathlib import Path

from harness.backends.docker_images import (
    PEER_DOCKERFILE,
    PEER_IMAGE,
    REPO,
    ensure_image,
    has_image,
)
from harness.errors import BackendError


def profile_images() -> list[tuple[str, Path | None, Path | None]]:
    """(image, dockerfile, context) of every DUT profile under duts/ with a container,
    each image once (profiles of one DUT in several roles share it)."""
    from harness.dut import load_profile
    from harness.errors import ProfileError

    found = []
    for path in sorted((REPO / "duts").glob("*.yaml")):
        try:
            container = load_profile(path).control.container
        except ProfileError:
            continue  # `onboardcheck dut check` reports it; nothing to build from it
        if container is not None and all(container.image != f[0] for f in found):
            found.append((container.image, container.dockerfile, container.context))
    return found


def main(argv: list[str] | None = None) -> int:
    """Build what is absent (all of it again with --rebuild); 0 when all are there."""
    import argparse
    import time

    from harness.backends.docker import docker_client

    parser = argparse.ArgumentParser(prog="python -m harness.backends.build_images")
    parser.add_argument("--rebuild", action="store_true", help="remove and build them again")
    args = parser.parse_args(argv)
    try:
        client = docker_client()
        wanted = [(PEER_IMAGE, PEER_DOCKERFILE, REPO), *profile_images()]
        for tag, dockerfile, context in wanted:
            if args.rebuild and has_image(client, tag):
                client.images.remove(tag)
            started = time.monotonic()
            present = has_image(client, tag)
            ensure_image(client, tag, dockerfile, context)
            took = "present" if present else f"built in {time.monotonic() - started:.0f} s"
            print(f"images: {tag}: {took}", flush=True)
    except BackendError as exc:
        print(f"images: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
