"""DUT profiles: valid ones load; every kind of bad one is a ProfileError naming field and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.dut import (
    DutProfile,
    builtin_profile,
    check_profile,
    load_profile,
    validate_ics,
)
from harness.errors import ProfileError

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "profiles"
KNOWN = {
    "est": ["client", "server"],
    "brski": ["pledge", "registrar"],
    "dpp": ["enrollee", "configurator"],
    "sztp": ["device", "bootstrap-server"],
}

# Line numbers below refer to this text (line 1 = "profile: 1").
GOOD = """\
profile: 1
identity:
  vendor: Acme
  model: Widget
  firmware: "1.2"
  serial: "42"
protocols:
  est:
    roles: [client]
control:
  adapter: process
  process:
    actions:
      enroll: echo enroll
"""


def write(tmp_path: Path, text: str, name: str = "dut.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def bad(tmp_path: Path, text: str, known: object = KNOWN) -> ProfileError:
    with pytest.raises(ProfileError) as info:
        load_profile(write(tmp_path, text), known)  # type: ignore[arg-type]
    return info.value


# -- valid profiles ----------------------------------------------------------------------------


def test_good_profile_loads(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD), KNOWN)
    assert isinstance(profile, DutProfile)
    assert profile.identity.serial == "42"
    assert profile.protocols["est"].roles == ["client"]
    assert profile.control.process is not None
    assert profile.control.process.timeout == 60.0
    assert profile.control.process.cwd == tmp_path.resolve()
    assert profile.line_of("control.process.actions.enroll") == 14


def test_fixture_process_client() -> None:
    profile = load_profile(FIXTURES / "process-client.yaml", KNOWN)
    ics = profile.protocols["est"].ics
    assert ics == {"EST-CLIENT-CERT-AUTH": True, "EST-CLIENT-SERVERKEYGEN": False}
    assert profile.control.process is not None
    assert profile.control.process.cwd == (FIXTURES / "actions").resolve()
    assert profile.control.process.env == {"WIDGET_MODE": "test"}
    assert profile.control.state == {"client_certificate": "{state_dir}/cert.pem"}


def test_fixture_manual_server_keeps_password_out_of_repr() -> None:
    profile = load_profile(FIXTURES / "manual-server.yaml", KNOWN)
    creds = profile.protocols["est"].credentials
    assert creds.trust_anchors == (FIXTURES / "ta.pem").resolve()
    assert creds.password == "estpwd"
    assert "estpwd" not in repr(profile)


def test_fixture_builtin() -> None:
    profile = load_profile(FIXTURES / "builtin.yaml", ["est"])
    assert profile.control.builtin is not None
    assert profile.control.builtin.mutant is None


def test_check_profile_summary() -> None:
    line = check_profile(FIXTURES / "process-client.yaml", KNOWN)
    assert line == "ok: Acme Widget fw 1.2 (SN 42): est client via process adapter"


@pytest.mark.parametrize("path", sorted((ROOT / "duts").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_profiles_load(path: Path) -> None:
    profile = load_profile(path, KNOWN)
    assert profile.summary()


@pytest.mark.parametrize("path", sorted((ROOT / "duts").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_profiles_answer_the_suites_ics(path: Path) -> None:
    from harness.ics import load_ics

    profile = load_profile(path, KNOWN)
    for protocol in profile.protocols:
        ics_file = ROOT / "suites" / protocol / "ics.yaml"
        if ics_file.exists():
            validate_ics(profile, load_ics(ics_file), protocol)


def test_builtin_profile() -> None:
    profile = builtin_profile("est", "server", mutant="no-retry-after")
    assert profile.identity.vendor == "onboardcheck"
    assert profile.identity.model.startswith("reference est server")
    assert profile.control.adapter == "builtin"
    assert profile.control.builtin is not None
    assert profile.control.builtin.mutant == "no-retry-after"
    assert profile.protocols["est"].roles == ["server"]


def test_container_section_takes_process_actions(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "Dockerfile").write_text("FROM scratch\n")
    text = GOOD.replace("  process:\n", "  container:\n    image: acme/widget:1.2\n"
                        "    dockerfile: img/Dockerfile\n    command: serve --port 8443\n"
                        "    ports: [8443]\n  process:\n")
    section = load_profile(write(tmp_path, text), KNOWN).control.container
    assert section is not None
    assert section.actions == {"enroll": "echo enroll"}  # from process.actions
    assert section.dockerfile == (tmp_path / "img" / "Dockerfile").resolve()
    assert section.context == (tmp_path / "img").resolve()
    assert section.command == ["/bin/sh", "-c", "serve --port 8443"]
    assert section.ports == [8443]


def test_any_protocol_when_none_known(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, GOOD.replace("est:", "lwm2m:")), None)
    assert list(profile.protocols) == ["lwm2m"]


# -- bad profiles: (description, replace old -> new in GOOD, field, line, message part) ------

CASES = [
    ("missing serial", ('  serial: "42"\n', ""), "identity.serial", 2, "required"),
    ("serial a number", ('serial: "42"', "serial: 42"), "identity.serial", 6, 'quote it: "42"'),
    ("typo key", ("protocols:", "protocls:"), "protocls", 7, "did you mean 'protocols'"),
    ("typo nested", ("    actions:", "    actoins:"), "control.process.actoins", 13,
     "did you mean 'actions'"),
    ("unknown adapter", ("adapter: process", "adapter: proces"), "control.adapter", 11,
     "did you mean 'process'"),
    ("planned adapter", ("adapter: process", "adapter: http"), "control.adapter", 11,
     "not supported yet"),
    ("container adapter without section", ("adapter: process", "adapter: container"),
     "control.container", 10, "required when adapter is 'container'"),
    ("container image name", ("  process:\n", "  container:\n    image: Bad Name\n  process:\n"),
     "control.container.image", 13, "not a docker image name"),
    ("container dockerfile", ("  process:\n", "  container:\n    image: acme/widget\n"
                              "    dockerfile: nowhere/Dockerfile\n  process:\n"),
     "control.container.dockerfile", 14, "file not found"),
    ("container workdir", ("  process:\n", "  container:\n    image: acme/widget\n"
                           "    workdir: opt\n  process:\n"),
     "control.container.workdir", 14, "absolute path"),
    ("empty roles", ("roles: [client]", "roles: []"), "protocols.est.roles", 9, "non-empty"),
    ("unknown role", ("roles: [client]", "roles: [clinet]"), "protocols.est.roles[0]", 9,
     "did you mean 'client'"),
    ("unknown protocol", ("  est:", "  ets:"), "protocols.ets", 8, "did you mean 'est'"),
    ("schema version", ("profile: 1", "profile: 2"), "profile", 1, "unsupported schema version"),
    ("timeout text", ("    actions:", "    timeout: soon\n    actions:"),
     "control.process.timeout", 13, "positive number"),
    ("roles not list", ("roles: [client]", "roles: client"), "protocols.est.roles", 9,
     "non-empty list"),
    ("identity a string", ("identity:\n  vendor: Acme\n  model: Widget\n  firmware: \"1.2\"\n"
                           "  serial: \"42\"", "identity: Acme"), "identity", 2, "mapping"),
    ("duplicate key", ("  vendor: Acme", "  vendor: Acme\n  vendor: Other"), "identity.vendor",
     4, "duplicate key (first at line 3)"),
    ("bool key", ("  est:", "  yes:"), "protocols.yes", 8, "quote it"),
    ("bad template", ("echo enroll", "echo {unclosed"), "control.process.actions.enroll", 14,
     "bad template"),
    ("missing cwd", ("    actions:", "    cwd: nowhere\n    actions:"), "control.process.cwd", 13,
     "folder not found"),
    ("missing process section", ("  process:\n    actions:\n      enroll: echo enroll\n", ""),
     "control.process", 10, "required when adapter is 'process'"),
    ("credentials file missing",
     ("    roles: [client]", "    roles: [client]\n    credentials: {trust_anchors: no.pem}"),
     "protocols.est.credentials.trust_anchors", 10, "file not found"),
]


@pytest.mark.parametrize(("change", "field", "line", "part"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_profile(
    tmp_path: Path, change: tuple[str, str], field: str, line: int, part: str
) -> None:
    old, new = change
    assert old in GOOD
    err = bad(tmp_path, GOOD.replace(old, new, 1))
    assert (err.field, err.line) == (field, line), str(err)
    assert part in err.message, str(err)
    assert str(err).startswith(f"{tmp_path / 'dut.yaml'}:{line}: {field}: ")


@pytest.mark.parametrize(
    ("content", "part"),
    [
        (b"profile: [1\n", "not valid YAML"),
        (b"- profile: 1\n- identity: {}\n", "the document is a list"),
        (b"just a string\n", "a single value"),
        (b"\x00\x01\x02\xff\xfe binary", "binary data"),
        (b"\xff\xfe\xfd not utf-8", "not UTF-8"),
        (b"", "empty file"),
        (b"a: 1\n---\nb: 2\n", "single YAML document"),
        (b"a: &x [1]\nb: *x\nc: {d: \t}\n", "not valid YAML"),
    ],
    ids=["syntax", "list", "scalar", "binary", "latin", "empty", "two-docs", "tab"],
)
def test_unreadable_files(tmp_path: Path, content: bytes, part: str) -> None:
    path = tmp_path / "dut.yaml"
    path.write_bytes(content)
    with pytest.raises(ProfileError) as info:
        load_profile(path, KNOWN)
    assert part in info.value.message, str(info.value)
    assert info.value.field == "(file)"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(tmp_path / "absent.yaml")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="is a folder"):
        load_profile(tmp_path)


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.truncate(50 * 1024 * 1024)  # sparse: 50 MB of NULs
    with pytest.raises(ProfileError, match="larger than"):
        load_profile(path)


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(ProfileError, match="alias expansion"):
        load_profile(path)


def test_check_profile_raises_on_bad(tmp_path: Path) -> None:
    with pytest.raises(ProfileError):
        check_profile(write(tmp_path, GOOD.replace("adapter: process", "adapter: http")), KNOWN)


# -- ICS answers against the suite's options -----------------------------------------------------


class Option:
    def __init__(self, type_: str, choices: tuple[str, ...] = ()):
        self.type = type_
        self.choices = choices


def test_validate_ics(tmp_path: Path) -> None:
    profile = load_profile(FIXTURES / "process-client.yaml", KNOWN)
    options = {"EST-CLIENT-CERT-AUTH": Option("bool"), "EST-CLIENT-SERVERKEYGEN": bool}
    validate_ics(profile, options)
    with pytest.raises(ProfileError, match="did you mean 'EST-CLIENT-SERVERKEYGEN2'") as info:
        validate_ics(profile, {"EST-CLIENT-CERT-AUTH": bool, "EST-CLIENT-SERVERKEYGEN2": bool})
    assert info.value.field == "protocols.est.ics.EST-CLIENT-SERVERKEYGEN"
    assert info.value.line == 11
    with pytest.raises(ProfileError, match="expected int"):
        options = {"EST-CLIENT-CERT-AUTH": "int", "EST-CLIENT-SERVERKEYGEN": bool}
        validate_ics(profile, options, "est")


def test_validate_ics_choices(tmp_path: Path) -> None:
    text = GOOD.replace("roles: [client]", "roles: [client]\n    ics: {EST-CURVE: P-521}")
    profile = load_profile(write(tmp_path, text), KNOWN)
    validate_ics(profile, {"EST-CURVE": Option("choice", ("P-521", "P-256"))})
    with pytest.raises(ProfileError, match="is not one of"):
        validate_ics(profile, {"EST-CURVE": Option("choice", ("P-256",))})
