"""The reference SZTP device's inputs: hostile server lists, outcome files and
credentials give typed errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.crypto.pki import Pki
from harness.protocols.sztp.device import (
    Device,
    DeviceConfig,
    DeviceConfigError,
    DeviceOutcome,
    ServerEntry,
    dump_servers,
    load_servers,
)
from harness.protocols.sztp.errors import SztpCodecError


@pytest.mark.parametrize("text", ["", "[]", '{"bootstrap-servers": []}',
                                  '{"bootstrap-servers": [{"trust-anchor": null}]}',
                                  '{"bootstrap-servers": [{"url": "x", "trust-anchor": "junk"}]}',
                                  "\xff"])  # fmt: skip
def test_bad_server_lists_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "servers.json"
    path.write_text(text, encoding="latin-1")
    with pytest.raises((DeviceConfigError, SztpCodecError)):
        load_servers(path)


def test_server_list_round_trip(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    root = pki.root_ca("anchor")
    path = tmp_path / "servers.json"
    path.write_text(dump_servers([ServerEntry("https://127.0.0.1:8443", [root.cert]),
                                  ServerEntry("https://[::1]:9443")]))  # fmt: skip
    found = load_servers(path)
    assert [e.address for e in found] == [("127.0.0.1", 8443), ("::1", 9443)]
    assert found[0].trust_anchors == [root.cert] and found[1].trust_anchors == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "https://", "https://h:99999"])
def test_bad_urls_refused(url: str) -> None:
    with pytest.raises(DeviceConfigError):
        _ = ServerEntry(url).address


@pytest.mark.parametrize("text", ["{}", "[1]", '{"serial": "x", "steps": [1]}', "nope"])
def test_bad_outcomes_refused(text: str) -> None:
    with pytest.raises(SztpCodecError):
        DeviceOutcome.from_json(text)


def test_idevid_without_serial_refused(tmp_path: Path) -> None:
    pki = Pki.create(tmp_path)
    cred = pki.client_cert(pki.root_ca("ca"), "no serial here")
    with pytest.raises(DeviceConfigError, match="serialNumber"):
        Device(DeviceConfig(cred, [ServerEntry("https://127.0.0.1:1")]))
