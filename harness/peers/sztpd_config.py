"""The running datastore of sztpd (the RFC 8572 bootstrap server) built from harness PKI.

sztpd takes its whole configuration as one RESTCONF document (PUT of
``/restconf/ds/ietf-datastores:running``); its YANG modules ship in the wheel
(``sztpd/yang/sztpd@2026-02-11.yang``, ``yangcore/yang/*``). This module builds that
document: a keystore holding the bootstrap server's TLS key and certificate, a
truststore bag with the devices' CA, an ``http-over-tls`` endpoint used for
``sztpd:rfc8572-interface``, one device type that requires a client certificate
chaining to that CA (the serial number is the last RDN of its subject), and one device
record per serial number with its response (redirect or onboarding information).

The native (management) endpoint is not built here: ``duts/sztpd/sztpd-dut.py
configure`` puts in the one it started sztpd with. See docs/sztpd.md.

sztpd 0.0.46 serves unsigned conveyed information only: its module set does not
enable ``sztpd-common:signed-managed-data-implemented`` (no owner certificate, no
ownership voucher, no CMS response), so nothing here offers signing.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

from harness.crypto.pki import CertifiedKey
from harness.errors import OnboardcheckError

KEY_NAME = "bootstrap-server-key"
CERT_NAME = "bootstrap-server-cert"
DEVICE_CA_BAG = "device-ca"
DEVICE_CA_CERT = "device-ca"
DEVICE_TYPE = "device"
ENDPOINT_NAME = "rfc8572-interface"

Json = dict[str, Any]

# A leaf sztpd keys a list with (serial number, names): printable, no path syntax.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:+-]{0,63}")


class SztpdConfigError(OnboardcheckError):
    """A configuration sztpd cannot take (bad name, port, key type, or empty input)."""


@dataclass(frozen=True)
class BootstrapServer:
    """One entry of redirect-information (RFC 8572 §2.2)."""

    address: str
    port: int = 443
    # Certificates encoded as the entry's trust-anchor (a root, then what it issued).
    trust_anchor: Sequence[x509.Certificate] = ()


@dataclass(frozen=True)
class BootImage:
    """The boot-image node of onboarding-information (RFC 8572 §2.2)."""

    os_name: str
    os_version: str
    download_uris: Sequence[str] = ()
    sha256: bytes | None = None  # the image's digest, for image-verification


@dataclass(frozen=True)
class Onboarding:
    """Onboarding information; at least one part must be given."""

    boot_image: BootImage | None = None
    pre_configuration_script: bytes | None = None
    configuration: bytes | None = None
    configuration_handling: Literal["merge", "replace"] = "merge"
    post_configuration_script: bytes | None = None


@dataclass(frozen=True)
class Device:
    """A device sztpd knows by serial number, and what it answers it: redirect
    information when `redirect` is given, onboarding information otherwise."""

    serial_number: str
    redirect: Sequence[BootstrapServer] = ()
    onboarding: Onboarding | None = None
    activation_code: str | None = None  # HTTP Basic password sztpd then requires


@dataclass(frozen=True)
class SztpdConfig:
    """What the bootstrap server serves, on which address and port."""

    address: str
    port: int
    server: CertifiedKey
    device_ca: Sequence[x509.Certificate]
    devices: Sequence[Device] = field(default_factory=tuple)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _cms_certs(certs: Sequence[x509.Certificate]) -> str:
    """Certificates as sztpd stores them: base64 of a certs-only CMS ContentInfo."""
    if not certs:
        raise SztpdConfigError("an empty list of certificates cannot be encoded")
    return _b64(pkcs7.serialize_certificates(list(certs), serialization.Encoding.DER))


def _check_name(what: str, value: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise SztpdConfigError(
            f"{what} {value!r}: 1-64 characters of letters, digits, space and ._:+- "
            "(starting with a letter or digit)"
        )
    return value


def _check_port(what: str, port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise SztpdConfigError(f"{what} {port!r} is not a TCP port")
    return port


def _check_address(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        raise SztpdConfigError(f"address {address!r} is not an IP address") from None


def _private_key(key: object) -> tuple[str, str]:
    """(private-key-format, base64 DER): sztpd reads RFC 5915 EC or PKCS#1 RSA keys only."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return "ietf-crypto-types:ec-private-key-format", _b64(der)
    if isinstance(key, rsa.RSAPrivateKey):
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
        return "ietf-crypto-types:rsa-private-key-format", _b64(der)
    raise SztpdConfigError(f"sztpd takes EC or RSA server keys, not {type(key).__name__}")


def _keystore(server: CertifiedKey) -> Json:
    key_format, key_b64 = _private_key(server.key)
    spki = server.cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "asymmetric-keys": {
            "asymmetric-key": [
                {
                    "name": KEY_NAME,
                    "public-key-format": "ietf-crypto-types:subject-public-key-info-format",
                    "public-key": _b64(spki),
                    "private-key-format": key_format,
                    "cleartext-private-key": key_b64,
                    "certificates": {
                        "certificate": [
                            {
                                "name": CERT_NAME,
                                "cert-data": _cms_certs([server.cert, *server.chain]),
                            }
                        ]
                    },
                }
            ]
        }
    }


def _endpoint(config: SztpdConfig) -> Json:
    return {
        "name": ENDPOINT_NAME,
        "yangcore:use-for": "sztpd:rfc8572-interface",
        "http-over-tls": {
            "tcp-server-parameters": {
                "local-bind": [
                    {
                        "local-address": _check_address(config.address),
                        "local-port": _check_port("bootstrap port", config.port),
                    }
                ]
            },
            "tls-server-parameters": {
                "server-identity": {
                    "certificate": {
                        "central-keystore-reference": {
                            "asymmetric-key": KEY_NAME,
                            "certificate": CERT_NAME,
                        }
                    }
                },
                "client-authentication": {
                    "ca-certs": {"central-truststore-reference": DEVICE_CA_BAG}
                },
            },
            "http-server-parameters": {},
            "restconf-server-parameters": {},
        },
    }


def _script_name(device: str, part: str) -> str:
    return f"{device} {part}"


def _conveyed(devices: Sequence[Device]) -> tuple[Json, Json]:
    """(conveyed-information, responses) for every device's answer."""
    servers: list[Json] = []
    images: list[Json] = []
    scripts: list[Json] = []
    configurations: list[Json] = []
    redirects: list[Json] = []
    onboardings: list[Json] = []
    for device in devices:
        serial = device.serial_number
        if device.redirect:
            names = []
            for index, entry in enumerate(device.redirect):
                name = f"{serial} {index}"
                server: Json = {
                    "name": name,
                    "address": entry.address,
                    "port": _check_port("redirect port", entry.port),
                }
                if entry.trust_anchor:
                    server["trust-anchor"] = _cms_certs(entry.trust_anchor)
                servers.append(server)
                names.append(name)
            redirects.append({"name": serial, "redirect-information": {"bootstrap-server": names}})
            continue
        onboarding = device.onboarding
        if onboarding is None:
            raise SztpdConfigError(f"device {serial!r}: neither redirect nor onboarding")
        info: Json = {}
        if onboarding.boot_image is not None:
            image = onboarding.boot_image
            entry_json: Json = {
                "name": serial,
                "os-name": image.os_name,
                "os-version": image.os_version,
                "download-uri": list(image.download_uris),
            }
            if image.sha256 is not None:
                if len(image.sha256) != hashlib.sha256().digest_size:
                    raise SztpdConfigError(f"device {serial!r}: sha256 is not 32 octets")
                if not image.download_uris:
                    raise SztpdConfigError(f"device {serial!r}: a verified image needs a URI")
                entry_json["image-verification"] = [
                    {
                        "hash-algorithm": "ietf-sztp-conveyed-info:sha-256",
                        "hash-value": image.sha256.hex(":"),
                    }
                ]
            images.append(entry_json)
            info["boot-image"] = serial
        for part, kind, code in (
            ("pre-configuration-script", "PRE-CONFIG", onboarding.pre_configuration_script),
            ("post-configuration-script", "POST-CONFIG", onboarding.post_configuration_script),
        ):
            if code is not None:
                name = _script_name(serial, part)
                scripts.append({"name": name, "type": kind, "code": _b64(code)})
                info[part] = name
        if onboarding.configuration is not None:
            configurations.append(
                {
                    "name": serial,
                    "handling": onboarding.configuration_handling,
                    "config-data": _b64(onboarding.configuration),
                }
            )
            info["configuration"] = serial
        if not info:
            raise SztpdConfigError(f"device {serial!r}: empty onboarding information")
        onboardings.append({"name": serial, "onboarding-information": info})
    conveyed: Json = {}
    if servers:
        conveyed["bootstrap-servers"] = {"bootstrap-server": servers}
    if images:
        conveyed["boot-images"] = {"boot-image": images}
    if scripts:
        conveyed["scripts"] = {"script": scripts}
    if configurations:
        conveyed["configurations"] = {"configuration": configurations}
    responses: Json = {}
    if redirects:
        responses["redirect-response"] = redirects
    if onboardings:
        responses["onboarding-response"] = onboardings
    return conveyed, responses


def _device(device: Device) -> Json:
    serial = device.serial_number
    if device.redirect:
        handler: Json = {"via-redirect-response": {"reference": serial}}
    else:
        handler = {"via-onboarding-response": {"reference": serial}}
    record: Json = {
        "serial-number": serial,
        "device-type": DEVICE_TYPE,
        "response-manager": {
            "matched-response": [
                {
                    "name": "catch-all",
                    "response": {"conveyed-information": handler},
                }
            ]
        },
    }
    if device.activation_code is not None:
        # "$0$" is crypt-hash's cleartext form; sztpd stores its SHA-256 crypt.
        record["activation-code"] = "$0$" + device.activation_code
    return record


def build(config: SztpdConfig) -> Json:
    """The running datastore, without the native endpoint (sztpd-dut.py adds it)."""
    if not config.device_ca:
        raise SztpdConfigError("device_ca: at least one CA certificate is needed")
    seen: set[str] = set()
    for device in config.devices:
        _check_name("serial number", device.serial_number)
        if device.serial_number in seen:
            raise SztpdConfigError(f"serial number {device.serial_number!r} given twice")
        seen.add(device.serial_number)
    conveyed, responses = _conveyed(config.devices)
    document: Json = {
        "ietf-restconf-server:restconf-server": {
            "listen": {"endpoints": {"endpoint": [_endpoint(config)]}}
        },
        "ietf-keystore:keystore": _keystore(config.server),
        "ietf-truststore:truststore": {
            "certificate-bags": {
                "certificate-bag": [
                    {
                        "name": DEVICE_CA_BAG,
                        # One entry: sztpd validates a device against one entry's certs.
                        "certificate": [
                            {"name": DEVICE_CA_CERT, "cert-data": _cms_certs(config.device_ca)}
                        ],
                    }
                ]
            }
        },
        "yangcore:preferences": {
            "authentication": {"internal-authenticator": {"passwords-allowed": {}}}
        },
        "sztpd:device-types": {
            "device-type": [
                {
                    "name": DEVICE_TYPE,
                    "identity-certificates": {
                        "verification": {
                            "central-truststore-reference": {
                                "certificate-bag": DEVICE_CA_BAG,
                                "certificate": DEVICE_CA_CERT,
                            }
                        },
                    },
                }
            ]
        },
        "sztpd:devices": {"device": [_device(d) for d in config.devices]},
    }
    if conveyed:
        document["sztpd:conveyed-information"] = conveyed
    if responses:
        document["sztpd:responses"] = responses
    return document


def dumps(config: SztpdConfig) -> str:
    """`build` as the JSON text `sztpd-dut.py configure` reads."""
    return json.dumps(build(config), indent=2)
