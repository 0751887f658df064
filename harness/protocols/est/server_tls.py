"""The EST server peer's TLS context (RFC 7030 §3.2.3, §3.3): what `server.py` listens
with, including the ServerBehaviour / ServerQuirks that bend the TLS layer."""

from __future__ import annotations

import ssl
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization

from harness.errors import PeerError
from harness.protocols.est.server_ops import ServerBehaviour, ServerQuirks

if TYPE_CHECKING:
    from harness.protocols.est.server import EstServerConfig


def server_context(
    config: EstServerConfig, behaviour: ServerBehaviour, quirks: ServerQuirks, folder: Path
) -> ssl.SSLContext:
    """The server's SSLContext; the credential is written to `folder` to load it."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    paths = config.credential.write(folder, "server")
    try:
        ctx.load_cert_chain(paths.bundle, paths.key)
    except (ssl.SSLError, OSError) as exc:
        raise PeerError(f"server credential does not load: {exc}") from exc
    if config.client_trust and not quirks.no_client_certificates:
        trust = config.client_trust
        pem = "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in trust)
        ctx.load_verify_locations(cadata=pem)
        # Client trust may be an intermediate (a manufacturer sub-CA): accept chains that
        # end at any listed certificate, not only at a self-signed root.
        ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        # CertificateRequest in every handshake; clients without a certificate may still
        # continue and authenticate with HTTP Basic (RFC 7030 §3.3.2).
        ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    if behaviour.ciphers is not None:
        try:
            ctx.set_ciphers(behaviour.ciphers)  # TLS 1.2 and older only
        except ssl.SSLError as exc:
            raise PeerError(f"cipher string {behaviour.ciphers!r}: {exc}") from exc
    with warnings.catch_warnings():
        # TLS 1.0/1.1 are deprecated; a test that sets them means it.
        warnings.simplefilter("ignore", DeprecationWarning)
        # An explicit floor: Python builds differ in theirs (3.11 from python.org says
        # TLS 1.2, Debian's leaves it to OpenSSL's security level, which a cipher string
        # with @SECLEVEL=0 lowers), and a knob must not change what it does not name.
        floor = ssl.TLSVersion.TLSv1_2 if behaviour.min_tls is None else behaviour.min_tls
        if behaviour.max_tls is not None:
            floor = min(floor, behaviour.max_tls)
            ctx.maximum_version = behaviour.max_tls
        ctx.minimum_version = floor
    if behaviour.require_pop and (
        behaviour.max_tls is None or behaviour.max_tls > ssl.TLSVersion.TLSv1_2
    ):
        # tls-unique (RFC 5929) is undefined for TLS 1.3 (RFC 8446 §C.5), so linking
        # PoP to the channel as RFC 7030 §3.5 describes needs TLS 1.2 at most.
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if quirks.no_session_resumption:
        # No TLS 1.3 tickets (num_tickets) and no TLS 1.2 RFC 5077 tickets (OP_NO_TICKET).
        ctx.num_tickets = 0
        ctx.options |= ssl.OP_NO_TICKET
    if config.keylog is not None:
        config.keylog.parent.mkdir(parents=True, exist_ok=True)
        ctx.keylog_filename = str(config.keylog)
    return ctx
