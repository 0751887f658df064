"""The shape every mutant has, shared by the server and client registries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

# A media type no EST operation uses: a client that checks Content-Type must refuse it.
WRONG_MEDIA_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Mutant(Generic[T]):
    """One deliberately broken variant; `apply` bends the reference before it runs."""

    name: str
    breaks: list[str]  # requirement ids of suites/est/requirements.yaml
    description: str
    apply: Callable[[T], None]
