"""DUT control adapters: how the harness makes a DUT act (see docs/dut-profile.md).

`make_controller()` picks the adapter named by the profile's `control.adapter`. The
`builtin` adapter (the harness's own reference implementations) is created by a
factory the caller passes in, which keeps this package free of protocol code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.control.base import ActionResult, Controller, fill_template, read_state
from harness.control.container import ContainerController
from harness.control.manual import ManualController
from harness.control.process import ProcessController
from harness.dut import PLANNED_ADAPTERS, DutProfile
from harness.errors import ControlError, ProfileError

if TYPE_CHECKING:
    from harness.backends import Node

BuiltinFactory = Callable[[DutProfile, str], Controller]

__all__ = [
    "ActionResult",
    "BuiltinFactory",
    "ContainerController",
    "Controller",
    "ManualController",
    "ProcessController",
    "fill_template",
    "make_controller",
    "read_state",
]


def make_controller(
    profile: DutProfile,
    protocol: str,
    builtin_factory: BuiltinFactory | None = None,
    node: Node | None = None,
) -> Controller:
    """The controller for `profile`'s DUT in its role(s) of `protocol`, placed on `node`
    (where the test network put the DUT; None: the harness's own host)."""
    controller = _make(profile, protocol, builtin_factory, node)
    controller.node = node
    return controller


def _make(
    profile: DutProfile, protocol: str, builtin_factory: BuiltinFactory | None, node: Node | None
) -> Controller:
    where = profile.path or "<builtin>"
    control = profile.control
    if protocol not in profile.protocols:
        listed = ", ".join(profile.protocols) or "(none)"
        raise ProfileError(
            where, "protocols", f"the DUT does not implement {protocol!r} (it lists: {listed})",
            profile.line_of("protocols"),
        )
    if control.adapter == "builtin":
        if builtin_factory is None:
            raise ControlError("setup", "the builtin adapter needs a builtin_factory")
        return builtin_factory(profile, protocol)
    endpoints = profile.protocols[protocol].endpoints
    in_container = node is not None and node.container is not None
    if control.container is not None and (control.adapter == "container" or in_container):
        if not in_container:
            raise ControlError("setup", "the container adapter needs the docker backend "
                               "(onboardcheck run --backend docker)")  # fmt: skip
        return ContainerController(control.container, control.state, endpoints)
    if control.adapter == "process" and control.process is not None:
        return ProcessController(control.process, control.state, endpoints=endpoints)
    if control.adapter == "manual" and control.manual is not None:
        return ManualController(control.manual.prompts, control.state, profile.base_dir)
    if control.adapter in PLANNED_ADAPTERS:
        message = f"the {control.adapter!r} adapter is planned but not supported yet"
    else:
        message = f"adapter {control.adapter!r} has no usable configuration section"
    raise ProfileError(where, "control.adapter", message, profile.line_of("control.adapter"))
