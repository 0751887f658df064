"""DUT profiles: load and validate the YAML that describes a device (or server) under test.

The format is documented in `docs/dut-profile.md`. Validation is hand-written so that
every message names the dotted field and the YAML line it comes from; every problem
with a profile file raises `ProfileError`, never another exception.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from harness import __version__
from harness.errors import ProfileError
from harness.yamlsrc import FieldPath, dotted, load_yaml

SCHEMA_VERSION = 1
# A profile is a few hundred lines; the cap keeps a mistaken path (a capture, an image)
# from being read whole into memory.
MAX_PROFILE_BYTES = 1024 * 1024

ADAPTERS = ("builtin", "process", "manual", "container")
PLANNED_ADAPTERS = ("http",)
# Roles the harness knows per protocol; a protocol missing here accepts any role name
# until its suite says otherwise (callers may pass their own table to load_profile).
ROLES: dict[str, tuple[str, ...]] = {
    "est": ("client", "server"),
    "dpp": ("enrollee", "configurator"),
    "brski": ("pledge", "registrar", "masa"),
    "sztp": ("device", "bootstrap-server"),
}
CREDENTIAL_PATHS = ("client_cert", "client_key", "trust_anchors")
CREDENTIAL_STRINGS = ("username", "password")
DEFAULT_TIMEOUT = 60.0
_IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9._/:@-]{0,254}")
_ACTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

Path_ = FieldPath


@dataclass
class Identity:
    vendor: str
    model: str
    firmware: str
    serial: str


@dataclass
class Credentials:
    """What the harness presents to a server DUT; paths are resolved against the profile."""

    client_cert: Path | None = None
    client_key: Path | None = None
    trust_anchors: Path | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # kept out of logs and reprs


@dataclass
class ProtocolSection:
    name: str
    roles: list[str]
    ics: dict[str, Any] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)
    oob: dict[str, str] = field(default_factory=dict)
    credentials: Credentials = field(default_factory=Credentials)


@dataclass
class BuiltinSection:
    implementation: str = "reference"
    mutant: str | None = None


@dataclass
class ProcessSection:
    cwd: Path
    actions: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT


@dataclass
class ContainerSection:
    """Where the DUT runs under the docker backend (docs/dut-profile.md, `container`)."""

    image: str
    dockerfile: Path | None = None  # built into `image` when the daemon lacks it
    context: Path | None = None  # build context (default: the Dockerfile's folder)
    workdir: str = "/"  # where actions run inside the container
    command: list[str] | None = None  # its main process (a server); None: stays idle
    env: dict[str, str] = field(default_factory=dict)
    ports: list[int] = field(default_factory=list)  # TCP ports a server DUT listens on
    actions: dict[str, str] = field(default_factory=dict)  # default: process.actions
    timeout: float = DEFAULT_TIMEOUT
    # A file inside the container with out-of-band data the DUT makes itself (a YAML
    # mapping of strings, e.g. a password printed at first boot); it adds to, and
    # overrides, protocols.<p>.oob.
    oob_file: str | None = None


@dataclass
class ManualSection:
    prompts: dict[str, str]


@dataclass
class ControlSection:
    adapter: str
    builtin: BuiltinSection | None = None
    process: ProcessSection | None = None
    manual: ManualSection | None = None
    container: ContainerSection | None = None
    state: dict[str, str] = field(default_factory=dict)


@dataclass
class DutProfile:
    path: Path | None  # None for in-memory profiles (builtin_profile)
    identity: Identity
    protocols: dict[str, ProtocolSection]
    control: ControlSection
    lines: dict[str, int] = field(default_factory=dict, repr=False)  # dotted field -> line

    @property
    def base_dir(self) -> Path:
        """Folder relative paths of the profile are resolved against."""
        return self.path.parent if self.path is not None else Path.cwd()

    def line_of(self, dotted: str) -> int | None:
        """YAML line of a field, or of its nearest ancestor that has one."""
        while dotted:
            if dotted in self.lines:
                return self.lines[dotted]
            dotted = dotted.rpartition(".")[0]
        return None

    def summary(self) -> str:
        ident = self.identity
        parts = [f"{name} {'+'.join(sec.roles)}" for name, sec in self.protocols.items()]
        return (
            f"{ident.vendor} {ident.model} fw {ident.firmware} (SN {ident.serial}): "
            f"{', '.join(parts)} via {self.control.adapter} adapter"
        )


# -- public entry points ---------------------------------------------------------------------


def load_profile(
    path: Path | str,
    known_protocols: Collection[str] | Mapping[str, Collection[str]] | None = None,
) -> DutProfile:
    """Read and validate a profile. `known_protocols`: the protocols that have a suite
    (a mapping gives each one's role names); None accepts any protocol name."""
    src = load_yaml(path, ProfileError, "DUT profile", MAX_PROFILE_BYTES)
    path, lines, data = src.path, src.lines, src.data
    return _Checker(path, lines, known_protocols).profile(data)


def check_profile(
    path: Path | str,
    known_protocols: Collection[str] | Mapping[str, Collection[str]] | None = None,
) -> str:
    """One-line summary of a valid profile; raises ProfileError otherwise."""
    return "ok: " + load_profile(path, known_protocols).summary()


def builtin_profile(
    protocol: str, role: str, mutant: str | None = None, ics: Mapping[str, Any] | None = None
) -> DutProfile:
    """The in-memory profile of the harness's own reference implementation of a role."""
    model = f"reference {protocol} {role}" + (f" (mutant {mutant})" if mutant else "")
    return DutProfile(
        path=None,
        identity=Identity("onboardcheck", model, __version__, "0"),
        protocols={protocol: ProtocolSection(protocol, [role], dict(ics or {}))},
        control=ControlSection("builtin", builtin=BuiltinSection("reference", mutant)),
    )


def validate_ics(
    profile: DutProfile, options: Mapping[str, Any], protocol: str | None = None
) -> None:
    """Check the ICS answers of one protocol section against the options of its ics.yaml.

    `options` maps option id -> spec; a spec is a Python type (or tuple of types), a type
    name ("bool", "int", "float", "str", "list"), or an object / mapping with `type` and
    optional `values` (allowed answers). `protocol` may be omitted when the profile has
    exactly one protocol.
    """
    if protocol is None:
        if len(profile.protocols) != 1:
            raise ProfileError(
                profile.path or "<builtin>", "protocols", "name the protocol to validate"
            )
        protocol = next(iter(profile.protocols))
    section = profile.protocols.get(protocol)
    if section is None:
        raise ProfileError(
            profile.path or "<builtin>", "protocols", f"no section for protocol {protocol!r}"
        )
    for option_id, answer in section.ics.items():
        dotted = f"protocols.{protocol}.ics.{option_id}"

        def fail(message: str, dotted: str = dotted) -> NoReturn:
            where = profile.path or "<builtin>"
            raise ProfileError(where, dotted, message, profile.line_of(dotted))

        if option_id not in options:
            fail(f"unknown ICS option {option_id!r}{_suggest(option_id, options)}")
        kind, values = _spec(options[option_id])
        if not _type_ok(kind, answer):
            fail(f"expected {kind}, got {_type_name(answer)} ({answer!r})")
        if values is not None and answer not in values:
            fail(f"{answer!r} is not one of {', '.join(map(repr, values))}")


def _suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


# -- validation ------------------------------------------------------------------------------


class _Checker:
    def __init__(
        self,
        path: Path,
        lines: dict[Path_, int],
        known: Collection[str] | Mapping[str, Collection[str]] | None,
    ):
        self.path = path
        self.lines = lines
        self.known = known

    def fail(self, at: Path_, message: str) -> NoReturn:
        probe = at
        while probe not in self.lines:  # a missing key: point at its parent mapping
            probe = probe[:-1]
        raise ProfileError(self.path, dotted(at) or "(document)", message, self.lines[probe])

    def mapping(
        self, value: Any, at: Path_, required: Collection[str] = (), optional: Collection[str] = ()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(at, f"expected a mapping, got {_type_name(value)}")
        allowed = [*required, *optional]
        for key in value:
            if key not in allowed:
                self.fail(
                    (*at, key),
                    f"unknown key {key!r}{_suggest(key, allowed)}; allowed: {', '.join(allowed)}",
                )
        for key in required:
            if key not in value:
                self.fail((*at, key), "required field is missing")
        return value

    def string(self, value: Any, at: Path_, empty_ok: bool = False) -> str:
        if isinstance(value, str):
            if not empty_ok and not value.strip():
                self.fail(at, "must not be empty")
            return value
        hint = f"; quote it: \"{value}\"" if isinstance(value, int | float) else ""
        self.fail(at, f"expected a string, got {_type_name(value)}{hint}")

    def str_map(self, value: Any, at: Path_, template: bool = False) -> dict[str, str]:
        if value is None:
            return {}
        self.mapping(value, at, optional=list(value) if isinstance(value, dict) else ())
        out = {key: self.string(item, (*at, key), empty_ok=True) for key, item in value.items()}
        if template:
            for key, item in out.items():
                self.template(item, (*at, key))
        return out

    def template(self, text: str, at: Path_) -> None:
        # Catch unbalanced braces now; unknown field names can only be judged at run time.
        try:
            list(string.Formatter().parse(text))
        except ValueError as exc:
            self.fail(at, f"bad template ({exc}); write a literal brace as {{{{ or }}}}")

    # -- sections --

    def profile(self, data: Any) -> DutProfile:
        top = self.mapping(data, (), required=("profile", "identity", "protocols", "control"))
        version = top["profile"]
        if version != SCHEMA_VERSION or isinstance(version, bool):
            self.fail(("profile",), f"unsupported schema version {version!r}; this harness "
                      f"reads version {SCHEMA_VERSION}")
        ident = self.mapping(top["identity"], ("identity",),
                             required=("vendor", "model", "firmware", "serial"))
        identity = Identity(**{k: self.string(ident[k], ("identity", k)) for k in ident})
        protocols = self.protocols(top["protocols"])
        profile = DutProfile(self.path, identity, protocols, self.control(top["control"]))
        profile.lines = {dotted(at): line for at, line in self.lines.items() if at}
        return profile

    def protocols(self, value: Any) -> dict[str, ProtocolSection]:
        at: Path_ = ("protocols",)
        if isinstance(value, dict) and not value:
            self.fail(at, "at least one protocol is required")
        self.mapping(value, at, optional=list(value) if isinstance(value, dict) else ())
        out = {}
        for name, section in value.items():
            if self.known is not None and name not in self.known:
                known = sorted(self.known)
                self.fail((*at, name), f"unknown protocol {name!r}{_suggest(name, known)}; "
                          f"known: {', '.join(known) or '(none)'}")
            out[name] = self.protocol(name, section, (*at, name))
        return out

    def protocol(self, name: str, value: Any, at: Path_) -> ProtocolSection:
        sec = self.mapping(value, at, required=("roles",),
                           optional=("ics", "endpoints", "oob", "credentials"))
        roles = sec["roles"]
        if not isinstance(roles, list) or not roles:
            self.fail((*at, "roles"), "expected a non-empty list of role names")
        known_roles = (
            self.known[name] if isinstance(self.known, Mapping) and name in self.known
            else ROLES.get(name)
        )
        for index, role in enumerate(roles):
            self.string(role, (*at, "roles", index))
            if known_roles is not None and role not in known_roles:
                self.fail((*at, "roles", index), f"unknown {name} role {role!r}"
                          f"{_suggest(role, known_roles)}; known: {', '.join(known_roles)}")
        if len(set(roles)) != len(roles):
            self.fail((*at, "roles"), "a role is listed twice")
        return ProtocolSection(
            name=name,
            roles=list(roles),
            ics=self.ics(sec.get("ics"), (*at, "ics")),
            endpoints=self.str_map(sec.get("endpoints"), (*at, "endpoints"), template=True),
            oob=self.str_map(sec.get("oob"), (*at, "oob")),
            credentials=self.credentials(sec.get("credentials"), (*at, "credentials")),
        )

    def ics(self, value: Any, at: Path_) -> dict[str, Any]:
        if value is None:
            return {}
        self.mapping(value, at, optional=list(value) if isinstance(value, dict) else ())
        for key, answer in value.items():
            items = answer if isinstance(answer, list) else [answer]
            if not all(isinstance(i, bool | int | float | str) for i in items):
                self.fail((*at, key), "an ICS answer is a boolean, number, string or a list "
                          f"of those, got {_type_name(answer)}")
        return dict(value)

    def credentials(self, value: Any, at: Path_) -> Credentials:
        if value is None:
            return Credentials()
        sec = self.mapping(value, at, optional=(*CREDENTIAL_PATHS, *CREDENTIAL_STRINGS))
        creds = Credentials()
        for key in CREDENTIAL_STRINGS:
            if key in sec:
                setattr(creds, key, self.string(sec[key], (*at, key), empty_ok=True))
        for key in CREDENTIAL_PATHS:
            if key in sec:
                file = self.path.parent / self.string(sec[key], (*at, key))
                if not file.is_file():  # a typo here would only show as a TLS failure later
                    self.fail((*at, key), f"file not found: {file}")
                setattr(creds, key, file.resolve())
        return creds

    def control(self, value: Any) -> ControlSection:
        at: Path_ = ("control",)
        sec = self.mapping(value, at, required=("adapter",),
                           optional=(*ADAPTERS, *PLANNED_ADAPTERS, "state"))
        adapter = self.string(sec["adapter"], (*at, "adapter"))
        for planned in PLANNED_ADAPTERS:
            if adapter == planned or planned in sec:
                where = (*at, "adapter") if adapter == planned else (*at, planned)
                self.fail(where, f"the {planned!r} adapter is planned but not supported yet; "
                          f"use one of: {', '.join(ADAPTERS)}")
        if adapter not in ADAPTERS:
            self.fail((*at, "adapter"), f"unknown adapter {adapter!r}"
                      f"{_suggest(adapter, ADAPTERS)}; use one of: {', '.join(ADAPTERS)}")
        if adapter in ("process", "manual", "container") and adapter not in sec:
            self.fail((*at, adapter), f"required when adapter is {adapter!r}")
        process = self.process(sec["process"], (*at, "process")) if "process" in sec else None
        container = None
        if "container" in sec:
            container = self.container(sec["container"], (*at, "container"), process)
            if adapter == "container" and not container.actions:
                self.fail((*at, "container", "actions"), "required when adapter is 'container'")
        return ControlSection(
            adapter=adapter,
            builtin=self.builtin(sec["builtin"], (*at, "builtin")) if "builtin" in sec else None,
            process=process,
            manual=self.manual(sec["manual"], (*at, "manual")) if "manual" in sec else None,
            container=container,
            state=self.str_map(sec.get("state"), (*at, "state"), template=True),
        )

    def builtin(self, value: Any, at: Path_) -> BuiltinSection:
        sec = self.mapping(value or {}, at, optional=("implementation", "mutant"))
        impl = self.string(sec.get("implementation", "reference"), (*at, "implementation"))
        mutant = sec.get("mutant")
        if mutant is not None:
            mutant = self.string(mutant, (*at, "mutant"))
        return BuiltinSection(impl, mutant)

    def process(self, value: Any, at: Path_) -> ProcessSection:
        sec = self.mapping(value, at, required=("actions",), optional=("cwd", "env", "timeout"))
        actions = self.str_map(sec["actions"], (*at, "actions"), template=True)
        if not actions:
            self.fail((*at, "actions"), "at least one action is required")
        for name, command in actions.items():
            if not _ACTION_NAME.fullmatch(name):
                self.fail((*at, "actions", name), "action names are letters, digits, _ and -")
            self.string(command, (*at, "actions", name))
        timeout = sec.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            self.fail((*at, "timeout"), f"expected a positive number of seconds, got {timeout!r}")
        cwd = self.path.parent / self.string(sec.get("cwd", "."), (*at, "cwd"))
        if not cwd.is_dir():
            self.fail((*at, "cwd"), f"folder not found: {cwd}")
        env = self.str_map(sec.get("env"), (*at, "env"))
        for key in env:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                self.fail((*at, "env", key), "not a valid environment variable name")
        return ProcessSection(cwd.resolve(), actions, env, float(timeout))

    def container(
        self, value: Any, at: Path_, process: ProcessSection | None
    ) -> ContainerSection:
        sec = self.mapping(value, at, required=("image",), optional=(
            "dockerfile", "context", "workdir", "command", "env", "ports", "actions", "timeout",
            "oob_file"))
        image = self.string(sec["image"], (*at, "image"))
        if not _IMAGE_NAME.fullmatch(image):
            self.fail((*at, "image"), f"not a docker image name: {image!r}")
        found = ContainerSection(image)
        if "dockerfile" in sec:
            found.dockerfile = (self.path.parent / self.string(sec["dockerfile"],
                                                               (*at, "dockerfile"))).resolve()
            if not found.dockerfile.is_file():
                self.fail((*at, "dockerfile"), f"file not found: {found.dockerfile}")
            context = sec.get("context")
            found.context = (self.path.parent / self.string(context, (*at, "context"))).resolve() \
                if context is not None else found.dockerfile.parent
            if not found.context.is_dir():
                self.fail((*at, "context"), f"folder not found: {found.context}")
        elif "context" in sec:
            self.fail((*at, "context"), "only meaningful with a dockerfile")
        workdir = self.string(sec.get("workdir", "/"), (*at, "workdir"))
        if not workdir.startswith("/"):
            self.fail((*at, "workdir"), "must be an absolute path inside the container")
        found.workdir = workdir
        command = sec.get("command")
        if command is not None:
            if isinstance(command, str):
                command = ["/bin/sh", "-c", command]
            if not isinstance(command, list) or not command or not all(
                    isinstance(c, str) for c in command):
                self.fail((*at, "command"), "expected a string or a list of strings")
            found.command = command
        found.env = self.str_map(sec.get("env"), (*at, "env"))
        ports = sec.get("ports", [])
        if not isinstance(ports, list) or not all(
                isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in ports):
            self.fail((*at, "ports"), "expected a list of TCP port numbers")
        found.ports = list(ports)
        actions = self.str_map(sec.get("actions"), (*at, "actions"), template=True)
        for name in actions:
            if not _ACTION_NAME.fullmatch(name):
                self.fail((*at, "actions", name), "action names are letters, digits, _ and -")
        found.actions = actions or (dict(process.actions) if process else {})
        timeout = sec.get("timeout", process.timeout if process else DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            self.fail((*at, "timeout"), f"expected a positive number of seconds, got {timeout!r}")
        found.timeout = float(timeout)
        if "oob_file" in sec:
            found.oob_file = self.string(sec["oob_file"], (*at, "oob_file"))
            if not found.oob_file.startswith("/"):
                self.fail((*at, "oob_file"), "must be an absolute path inside the container")
        return found

    def manual(self, value: Any, at: Path_) -> ManualSection:
        sec = self.mapping(value, at, required=("prompts",))
        prompts = self.str_map(sec["prompts"], (*at, "prompts"), template=True)
        if not prompts:
            self.fail((*at, "prompts"), "at least one prompt is required")
        return ManualSection(prompts)


# -- ICS spec helpers --------------------------------------------------------------------------

_TYPE_NAMES = {
    "bool": "bool", "boolean": "bool", "int": "int", "integer": "int", "float": "number",
    "number": "number", "str": "str", "string": "str", "enum": "str", "choice": "str",
    "list": "list",
}


def _spec(spec: Any) -> tuple[str, Collection[Any] | None]:
    if isinstance(spec, type | tuple):
        types = spec if isinstance(spec, tuple) else (spec,)
        kind = {bool: "bool", int: "int", float: "number", str: "str", list: "list"}
        return next((kind[t] for t in types if t in kind), "any"), None
    if isinstance(spec, str):
        return _TYPE_NAMES.get(spec, "any"), None
    get = spec.get if isinstance(spec, Mapping) else lambda k: getattr(spec, k, None)
    values = get("values") or get("choices") or None
    return _TYPE_NAMES.get(str(get("type") or ""), "any"), values


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "list":
        return isinstance(value, list)
    return True


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
