"""Mutants of the reference EST server: broken servers that show the server suite's
tests can fail."""

from __future__ import annotations

from collections.abc import Callable

from harness.protocols.est import codec
from harness.protocols.est.mutants.base import WRONG_MEDIA_TYPE, Mutant
from harness.protocols.est.server import EstServerConfig, EstServerPeer, ServerBehaviour


def _set(**changes: object) -> Callable[[EstServerPeer], None]:
    """An apply() that sets ServerBehaviour / ServerQuirks attributes by name."""

    def apply(peer: EstServerPeer) -> None:
        for name, value in changes.items():
            target: object = peer.quirks if hasattr(peer.quirks, name) else peer.behaviour
            if not hasattr(target, name):
                raise AttributeError(f"no server hook named {name!r}")
            setattr(target, name, value)

    return apply


def _media(op: str) -> Callable[[EstServerPeer], None]:
    def apply(peer: EstServerPeer) -> None:
        peer.behaviour.content_type[op] = WRONG_MEDIA_TYPE

    return apply


def _raw_der(op: str) -> Callable[[EstServerPeer], None]:
    def apply(peer: EstServerPeer) -> None:
        peer.behaviour.raw_der.add(op)

    return apply


def _server(
    name: str, breaks: list[str], description: str, apply: Callable[[EstServerPeer], None]
) -> tuple[str, Mutant[EstServerPeer]]:
    return name, Mutant(name, breaks, description, apply)


SERVER_MUTANTS: dict[str, Mutant[EstServerPeer]] = dict(
    [
        _server(
            "cacerts-wrong-media-type",
            ["RFC7030-4.1.3-MUST-03"],
            f"/cacerts answers 200 with Content-Type {WRONG_MEDIA_TYPE} instead of a "
            "certs-only application/pkcs7-mime.",
            _media(codec.CACERTS),
        ),
        _server(
            "cacerts-requires-auth",
            ["RFC7030-4.1.2-SHOULD-NOT-01"],
            "/cacerts demands authentication (401 Basic challenge to anonymous clients).",
            _set(cacerts_requires_auth=True),
        ),
        _server(
            "enroll-wrong-media-type",
            ["RFC7030-4.2.3-MUST-01"],
            f"/simpleenroll answers 200 with Content-Type {WRONG_MEDIA_TYPE} instead of "
            "application/pkcs7-mime.",
            _media(codec.SIMPLEENROLL),
        ),
        _server(
            "enroll-not-base64",
            ["RFC8951-3-MUST-01"],
            "/simpleenroll answers with binary DER instead of base64.",
            _raw_der(codec.SIMPLEENROLL),
        ),
        _server(
            "enroll-extra-certs",
            ["RFC7030-4.2.3-MUST-02"],
            "/simpleenroll answers with the issued certificate plus the CA certificate, "
            "where only the issued certificate is allowed.",
            _set(extra_certs_in_enroll=True),
        ),
        _server(
            "enroll-without-auth",
            ["RFC7030-3.3.2-MUST-02"],
            "/simpleenroll issues certificates to clients that authenticated in no way "
            "(no client certificate, no HTTP Basic): no authorization check.",
            _set(enroll_without_auth=True),
        ),
        _server(
            "pop-not-checked",
            ["RFC7030-3.5-MUST-01", "RFC7030-3.5-MAY-01"],
            "Requires PoP linking (TLS 1.2, challengePassword) but accepts a CSR whose "
            "challengePassword is not this connection's tls-unique.",
            _set(require_pop=True, skip_pop_check=True),
        ),
        _server(
            "pending-no-retry-after",
            ["RFC7030-4.2.3-MUST-04"],
            "In manual-approval mode, answers 202 without a Retry-After header.",
            _set(retry_after=None),
        ),
        _server(
            "reenroll-any-subject",
            ["RFC7030-3.3.2-MUST-02"],
            "/simplereenroll renews with a subject or subjectAltName that differs from the "
            "certificate being renewed (RFC 7030 §4.2.2 identity not enforced).",
            _set(skip_reenroll_identity_check=True),
        ),
        _server(
            "accepts-bad-csr-signature",
            ["RFC7030-4.2.3-MUST-03"],
            "/simpleenroll answers 200 (issues) for a CSR whose signature does not verify, "
            "instead of a 4xx error.",
            _set(skip_csr_signature_check=True),
        ),
        _server(
            "csrattrs-wrong-media-type",
            ["RFC7030-4.5.2-MUST-02"],
            f"/csrattrs answers 200 with Content-Type {WRONG_MEDIA_TYPE} instead of "
            "application/csrattrs (the config must carry csrattrs for a 200).",
            _media(codec.CSRATTRS_OPERATION),
        ),
        _server(
            "serverkeygen-not-multipart",
            ["RFC7030-4.4.2-MUST-01"],
            "/serverkeygen answers with a bare certs-only body: no multipart/mixed, no key part.",
            _set(serverkeygen_single_part=True),
        ),
        _server(
            "serverkeygen-checks-csr-key",
            ["RFC7030-4.4.1-MUST-01"],
            "/serverkeygen refuses (400) a CSR whose signature does not verify, where the "
            "server must ignore the CSR's public key and signature.",
            _set(serverkeygen_checks_csr_key=True),
        ),
    ]
)


def make_server(
    config: EstServerConfig,
    behaviour: ServerBehaviour | str | None = None,
    mutant: str | None = None,
) -> EstServerPeer:
    """The reference server peer, or the named mutant of it (not started).

    `make_server(config, "pop-not-checked")` also works: a string in the second place is
    the mutant's name. The mutant is applied after `behaviour`, so it wins where both
    set the same knob.
    """
    if isinstance(behaviour, str):
        if mutant is not None:
            raise TypeError("make_server: mutant given twice")
        behaviour, mutant = None, behaviour
    peer = EstServerPeer(config, behaviour)
    if mutant is not None:
        if mutant not in SERVER_MUTANTS:
            raise KeyError(
                f"unknown EST server mutant {mutant!r}; known: {', '.join(sorted(SERVER_MUTANTS))}"
            )
        SERVER_MUTANTS[mutant].apply(peer)
    return peer
