"""EST server DUT: the TLS layer (RFC 7030 §3.2.3, §3.3, §3.3.1, §4.4)."""

from __future__ import annotations

import datetime as dt
import ssl
import warnings

import pytest
from cryptography import x509

from harness.capture import Frame, PacketCursor
from harness.crypto.pki import generate_key, make_csr
from harness.protocols.est import codec
from harness.protocols.est.client import EstClientPeer
from harness.protocols.est.frames import response_to
from harness.protocols.est.testbed import ServerDutBed
from harness.verdicts import check, fail, inconclusive

pytestmark = pytest.mark.dut_role("est", "server")

CLIENT_HELLO, SERVER_HELLO, CERTIFICATE = "1", "2", "11"  # TLS HandshakeType values
TLS_1_0 = "0x0301"
TIMEOUT = 10.0


def hellos(wire: PacketCursor) -> list[Frame]:
    return wire.all({"tls.handshake.type": CLIENT_HELLO})


def to_client(wire: PacketCursor, hello: Frame, flt: dict[str, str]) -> list[Frame]:
    """Frames from the server to the client connection that sent `hello`, matching `flt`.

    The connection is tshark's TCP stream, not the port pair alone: a later connection
    may reuse the client's port once the first is closed."""
    stream = hello.get("tcp.stream")
    return [f for f in wire.all(flt) if f.dport == hello.sport and f.sport == hello.dport
            and f.get("tcp.stream") == stream]  # fmt: skip


def weakened(peer: EstClientPeer, ciphers: str, version: ssl.TLSVersion) -> EstClientPeer:
    """Let the peer's OpenSSL offer what its security level forbids, for probing only."""
    try:
        with warnings.catch_warnings():
            # Offering TLS 1.0 is the point of the probe: its deprecation is expected.
            warnings.simplefilter("ignore", DeprecationWarning)
            peer.context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
            peer.context.minimum_version = min(version, ssl.TLSVersion.TLSv1_2)
            peer.context.maximum_version = version
    except (ssl.SSLError, ValueError) as exc:
        inconclusive(f"the local OpenSSL cannot offer {ciphers} over {version.name}: {exc}")
    return peer


def negotiated(server_hello: Frame) -> str:
    """The version a ServerHello selects (supported_versions wins, RFC 8446 §4.2.1)."""
    return (
        server_hello.get("tls.handshake.extensions.supported_version")
        or server_hello.get("tls.handshake.version")
        or ""
    )


@pytest.mark.requirement("RFC7030-3.3-MUST-02")
def test_tls_1_1_or_later(server_bed: ServerDutBed) -> None:
    """HTTPS MUST be used. TLS 1.1 [RFC4346] (or a later version) MUST be used for all EST
    communications."""
    req = "RFC7030-3.3-MUST-02"
    server_bed.start()
    # Step 1: a tester client that offers only TLS 1.0 asks for /cacerts.
    weakened(server_bed.client(auth="none"), "ALL", ssl.TLSVersion.TLSv1).cacerts()
    # Step 2: an ordinary tester client asks for /cacerts.
    server_bed.client(auth="none").cacerts()
    wire = server_bed.wire()
    found = hellos(wire)
    if len(found) < 2 or found[0].get("tls.handshake.version") != TLS_1_0:
        inconclusive("the TLS 1.0-only ClientHello is not on the wire")
    old, new = found[0], found[1]
    # Step 3: the TLS 1.0 client got no ServerHello and no EST answer.
    accepted = to_client(wire, old, {"tls.handshake.type": SERVER_HELLO})
    answered = to_client(wire, old, {"http.response": "1"})
    check(
        not accepted and not answered,
        f"a TLS 1.0-only client got {len(accepted)} ServerHello(s), {len(answered)} answers",
        req,
    )
    # Step 4: the ordinary client negotiated TLS 1.1 or later.
    hello = to_client(wire, new, {"tls.handshake.type": SERVER_HELLO})
    version = negotiated(hello[0]) if hello else ""
    check(version >= "0x0302", f"the ordinary handshake negotiated {version or 'nothing'}", req)


@pytest.mark.requirement("RFC7030-3.2.3-MUST-NOT-02")
def test_no_null_or_anon_suites(server_bed: ServerDutBed) -> None:
    """NULL and anon cipher suites MUST NOT be used because they do not provide
    confidentiality or support mutual certificate-based or certificate-less
    authentication, respectively."""
    req = "RFC7030-3.2.3-MUST-NOT-02"
    server_bed.start()
    # Step 1: a TLS 1.2 tester client offers only NULL-encryption and anonymous suites.
    peer = weakened(server_bed.client(auth="none"), "eNULL:aNULL", ssl.TLSVersion.TLSv1_2)
    peer.cacerts()
    wire = server_bed.wire()
    found = hellos(wire)
    if not found:
        inconclusive("the NULL/anon-only ClientHello is not on the wire")
    # Step 2: the handshake fails: no ServerHello, no application data.
    accepted = to_client(wire, found[0], {"tls.handshake.type": SERVER_HELLO})
    suites = [f.get("tls.handshake.ciphersuite") for f in accepted]
    check(
        not accepted,
        f"the DUT selected cipher suite(s) {suites} from a NULL/anon-only offer",
        req,
        frames=[f.line() for f in accepted],
    )


@pytest.mark.requirement("RFC7030-4.4-MUST-NOT-01")
def test_no_null_suites_for_serverkeygen(server_bed: ServerDutBed) -> None:
    """RFC 7030 §4.4: Cipher suites that have a NULL confidentiality algorithm MUST NOT be
    used as they will disclose the contents of an unprotected private key."""
    req = "RFC7030-4.4-MUST-NOT-01"
    server_bed.start()
    # Step 1: a TLS 1.2 tester client, authenticated by its certificate, offers only
    # NULL-encryption suites (certificate-authenticated ones) and POSTs a CSR to
    # .../serverkeygen.
    peer = weakened(server_bed.client(auth="cert"), "eNULL:!aNULL", ssl.TLSVersion.TLSv1_2)
    peer.serverkeygen(make_csr(generate_key(), "onboardcheck NULL-suite probe"))
    wire = server_bed.wire()
    found = hellos(wire)
    if not found:
        inconclusive("the NULL-only ClientHello is not on the wire")
    # Step 2: the handshake fails: no ServerHello selects a suite, no serverkeygen answer.
    accepted = to_client(wire, found[0], {"tls.handshake.type": SERVER_HELLO})
    answered = [f for f in wire.all(response_to(codec.SERVERKEYGEN))
                if f.dport == found[0].sport
                and f.get("tcp.stream") == found[0].get("tcp.stream")]
    suites = [f.get("tls.handshake.ciphersuite") for f in accepted]
    check(
        not accepted and not answered,
        f"the DUT selected cipher suite(s) {suites} from a NULL-only offer and gave "
        f"{len(answered)} serverkeygen answer(s) over it",
        req,
        frames=[f.line() for f in accepted + answered],
    )


def fetch(peer: EstClientPeer, session: ssl.SSLSession | None) -> ssl.SSLSession | None:
    """GET /cacerts on a raw TLS connection offering `session`; returns the new session."""
    path = peer.path_of(codec.CACERTS)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {peer.host}:{peer.port}\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        with (
            peer.open_socket() as raw,
            peer.context.wrap_socket(raw, server_hostname=peer.host, session=session) as tls,
        ):
            tls.sendall(request)
            while tls.recv(65536):  # read to the end: TLS 1.3 tickets follow the handshake
                pass
            return tls.session
    except (OSError, ssl.SSLError) as exc:
        inconclusive(f"GET /cacerts for the resumption probe failed: {exc}")


@pytest.mark.requirement("RFC7030-3.3-SHOULD-01")
def test_session_resumption(server_bed: ServerDutBed) -> None:
    """TLS session resumption [RFC5077] SHOULD be supported."""
    req = "RFC7030-3.3-SHOULD-01"
    server_bed.start()
    peer = server_bed.client(auth="none")
    # Step 1: a full handshake; the tester keeps the session (ticket or id).
    first = fetch(peer, None)
    # Step 2: a second connection offers that session.
    fetch(peer, first)
    wire = server_bed.wire()
    found = hellos(wire)
    if len(found) < 2:
        inconclusive("two ClientHellos are not on the wire")
    full = to_client(wire, found[0], {"tls.handshake.type": CERTIFICATE})
    if not full:
        inconclusive("the first handshake's Certificate is not decoded (key log missing?)")
    # Step 3: the second handshake is abbreviated: the server sends no Certificate.
    again = to_client(wire, found[1], {"tls.handshake.type": CERTIFICATE})
    check(
        not again,
        "the DUT answered an offered session with a full handshake (Certificate "
        f"in frame {again[0].number if again else '?'})",
        req,
    )


@pytest.mark.requirement("RFC7030-3.3.1-MUST-02")
def test_server_certificate_profile(server_bed: ServerDutBed) -> None:
    """The EST server certificate MUST conform to the [RFC5280] certificate profile."""
    req = "RFC7030-3.3.1-MUST-02"
    # Step 1: a tester client completes a handshake and asks for /cacerts.
    server_bed.start()
    server_bed.client(auth="none").cacerts()
    wire = server_bed.wire()
    found = hellos(wire)
    flight = to_client(wire, found[0], {"tls.handshake.type": CERTIFICATE}) if found else []
    if not flight:
        inconclusive("the server's Certificate message is not decoded (key log missing?)")
    # Step 2: its end-entity certificate is an RFC 5280 v3 certificate, valid now,
    # with well-formed, unique extensions and keyCertSign only on a CA.
    frame = flight[0]
    der = bytes.fromhex((frame.get("tls.handshake.certificate") or "").replace(":", ""))
    try:
        cert = x509.load_der_x509_certificate(der)
        extensions = cert.extensions  # raises on duplicates and malformed values
    except ValueError as exc:
        fail(f"frame {frame.number}: server certificate does not parse: {exc}", req)
    now = dt.datetime.now(dt.UTC)
    problems = _profile_problems(cert, extensions, now)
    check(
        not problems,
        f"frame {frame.number}: server certificate "
        f"{cert.subject.rfc4514_string()}: {'; '.join(problems)}",
        req,
    )


def _profile_problems(
    cert: x509.Certificate, extensions: x509.Extensions, now: dt.datetime
) -> list[str]:
    problems = []
    if cert.version != x509.Version.v3:
        problems.append(f"version {cert.version.name}")
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        problems.append(f"not valid now ({cert.not_valid_before_utc}..{cert.not_valid_after_utc})")
    if cert.serial_number <= 0 or cert.serial_number.bit_length() > 160:
        problems.append("serialNumber not a positive integer of at most 20 octets")
    ca = _value(extensions, x509.BasicConstraints)
    usage = _value(extensions, x509.KeyUsage)
    if usage is not None and usage.key_cert_sign and not (ca is not None and ca.ca):
        problems.append("keyCertSign without basicConstraints cA")
    if not cert.subject and _value(extensions, x509.SubjectAlternativeName) is None:
        problems.append("empty subject without subjectAltName")
    return problems


def _value(extensions: x509.Extensions, kind: type) -> object:
    try:
        return extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None
