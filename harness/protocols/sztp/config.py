"""What a bootstrap server is configured to serve: the document the harness writes for a
server DUT's `configure` action (parameter `sztp_config`) and the reference server reads.

    {"address": "127.0.0.1", "port": 8443,
     "server-certificate": "<PEM chain>", "server-key": "<PEM>",
     "device-ca": ["<PEM>", ...],
     "owner": {"certificate": "<PEM chain>", "key": "<PEM>"},          (optional)
     "devices": [{"serial-number": "SN-1",
                  "conveyed-information": {<ietf-sztp-conveyed-info JSON>},
                  "signed": false,
                  "ownership-voucher": "<base64 CMS>",                 (signed only)
                  "activation-code": "...",                            (optional)
                  "encrypt-to": "<PEM>"}]}    (optional: the device's IDevID certificate)
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from harness.crypto.pki import CertifiedKey
from harness.protocols.sztp.codec import ConveyedInformation, conveyed_to_dict, parse_conveyed_json
from harness.protocols.sztp.errors import SztpCodecError


@dataclass
class DeviceEntry:
    serial_number: str
    conveyed: ConveyedInformation
    signed: bool = False
    ownership_voucher: bytes | None = None  # CMS, for signed conveyed information
    activation_code: str | None = None
    encrypt_to: x509.Certificate | None = None  # conveyed information encrypted to it (§3.4)


@dataclass
class ServerSetup:
    address: str
    port: int
    server: CertifiedKey
    device_ca: list[x509.Certificate]
    devices: list[DeviceEntry] = field(default_factory=list)
    owner: CertifiedKey | None = None  # signs conveyed information (owner certificate)

    def device(self, serial: str) -> DeviceEntry | None:
        return next((d for d in self.devices if d.serial_number == serial), None)


def _pem_chain(cred: CertifiedKey) -> str:
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in [cred.cert, *cred.chain])


def _key_pem(cred: CertifiedKey) -> str:
    return cred.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def _credential(chain: Any, key: Any, what: str) -> CertifiedKey:
    try:
        certs = x509.load_pem_x509_certificates(str(chain).encode())
        private = load_pem_private_key(str(key).encode(), None)
    except (ValueError, TypeError) as exc:
        raise SztpCodecError(f"does not load ({exc})", what) from None
    return CertifiedKey(certs[0], private, certs[1:])  # type: ignore[arg-type]


def dumps(setup: ServerSetup) -> str:
    doc: dict[str, Any] = {
        "address": setup.address,
        "port": setup.port,
        "server-certificate": _pem_chain(setup.server),
        "server-key": _key_pem(setup.server),
        "device-ca": [c.public_bytes(Encoding.PEM).decode() for c in setup.device_ca],
        "devices": [],
    }
    if setup.owner is not None:
        doc["owner"] = {"certificate": _pem_chain(setup.owner), "key": _key_pem(setup.owner)}
    for dev in setup.devices:
        entry: dict[str, Any] = {
            "serial-number": dev.serial_number,
            "conveyed-information": conveyed_to_dict(dev.conveyed),
            "signed": dev.signed,
        }
        if dev.ownership_voucher is not None:
            entry["ownership-voucher"] = base64.b64encode(dev.ownership_voucher).decode()
        if dev.activation_code is not None:
            entry["activation-code"] = dev.activation_code
        if dev.encrypt_to is not None:
            entry["encrypt-to"] = dev.encrypt_to.public_bytes(Encoding.PEM).decode()
        doc["devices"].append(entry)
    return json.dumps(doc, indent=2)


def loads(text: str) -> ServerSetup:
    """The setup of `dumps`; any defect raises SztpCodecError naming the member."""
    try:
        doc = json.loads(text)
        if not isinstance(doc, dict):
            raise SztpCodecError("not a JSON object", "sztp_config")
        setup = ServerSetup(
            str(doc["address"]), int(doc["port"]),
            _credential(doc["server-certificate"], doc["server-key"], "server-certificate"),
            [x509.load_pem_x509_certificate(p.encode()) for p in doc["device-ca"]],
        )  # fmt: skip
        owner = doc.get("owner")
        if owner is not None:
            setup.owner = _credential(owner["certificate"], owner["key"], "owner")
        for entry in doc.get("devices", []):
            voucher = entry.get("ownership-voucher")
            recipient = entry.get("encrypt-to")
            setup.devices.append(DeviceEntry(
                str(entry["serial-number"]),
                parse_conveyed_json(json.dumps(entry["conveyed-information"])),
                bool(entry.get("signed", False)),
                base64.b64decode(voucher) if voucher else None,
                entry.get("activation-code"),
                x509.load_pem_x509_certificate(recipient.encode()) if recipient else None,
            ))  # fmt: skip
    except SztpCodecError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SztpCodecError(f"malformed server setup ({type(exc).__name__}: {exc})",
                             "sztp_config") from None
    return setup


def load(path: Path) -> ServerSetup:
    try:
        return loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SztpCodecError(f"{path}: {exc}", "sztp_config") from None
