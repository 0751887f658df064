"""Named mutants of the reference EST server and client, each breaking one requirement.

A mutant is a small override of the reference: it flips a `ServerQuirks` /
`ClientQuirks` hook or sets a `ServerBehaviour` knob; the reference code consults these
at a few named points, so there is exactly one implementation to keep correct.
The self-test shows each conformance test failing on the mutant built to break it.

    peer = make_server(config, "pop-not-checked")        # an EstServerPeer, not started
    run_action("enroll", params, mutant="ignores-retry-after")
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from harness.protocols.est import codec
from harness.protocols.est.reference_client import ClientQuirks
from harness.protocols.est.server import EstServerConfig, EstServerPeer, ServerBehaviour

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


# -- server mutants: broken EST servers, to show the server suite's tests can fail -------------


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


# -- client mutants ------------------------------------------------------------------------------


def _quirk(**changes: object) -> Callable[[ClientQuirks], None]:
    def apply(quirks: ClientQuirks) -> None:
        for name, value in changes.items():
            if not hasattr(quirks, name):
                raise AttributeError(f"no client hook named {name!r}")
            setattr(quirks, name, value)

    return apply


def _client(
    name: str, breaks: list[str], description: str, apply: Callable[[ClientQuirks], None]
) -> tuple[str, Mutant[ClientQuirks]]:
    return name, Mutant(name, breaks, description, apply)


# Server authorization (§3.6) rests on certificate validation (§3.3.1) and the URI check
# (§3.6.1): a client that skips or abandons either talks to servers it must not, so it
# also sends credentials (§3.2.3) and accepts answers (§3.6) there.
UNVERIFIED_SERVER = [
    "RFC7030-3.3.1-MUST-01",
    "RFC7030-3.6-MUST-01",
    "RFC7030-3.6.1-MUST-01",
    "RFC7030-3.2.3-MUST-NOT-01",
]

CLIENT_MUTANTS: dict[str, Mutant[ClientQuirks]] = dict(
    [
        _client(
            "no-server-auth",
            list(UNVERIFIED_SERVER),
            "Does not validate the server's certificate at all (accepts any TLS server).",
            _quirk(verify_server=False),
        ),
        _client(
            "no-hostname-check",
            ["RFC7030-3.6.1-MUST-01", "RFC7030-3.6-MUST-01"],
            "Validates the chain but not that the certificate names the URL's host "
            "(RFC 6125 check skipped).",
            _quirk(check_hostname=False),
        ),
        _client(
            "basic-to-unverified-server",
            list(UNVERIFIED_SERVER),
            "When the server's certificate is rejected it carries on unverified and answers "
            "the server's 401 Basic challenge with its password.",
            _quirk(fallback_unverified=True),
        ),
        _client(
            "wrong-csr-content-type",
            ["RFC7030-4.2.1-MUST-01"],
            f"POSTs the CSR with Content-Type {WRONG_MEDIA_TYPE} instead of application/pkcs10.",
            _quirk(csr_content_type=WRONG_MEDIA_TYPE),
        ),
        _client(
            "csr-not-base64",
            # RFC 7030 §4.2.1 itself names the base64 encoding of the PKCS#10 body
            ["RFC8951-3-MUST-02", "RFC7030-4.2.1-MUST-01"],
            "POSTs the CSR as binary DER instead of base64.",
            _quirk(csr_base64=False),
        ),
        _client(
            "accepts-binary-der",
            ["RFC8951-3-MUST-02"],
            "Installs a certs-only answer sent as binary DER instead of refusing it as not base64.",
            _quirk(require_base64=False),
        ),
        _client(
            "ignores-retry-after",
            ["RFC7030-4.2.3-MUST-05"],
            "After a 202 it retries at once instead of waiting at least Retry-After.",
            _quirk(honour_retry_after=False),
        ),
        _client(
            "reenroll-changes-subject",
            ["RFC7030-4.2.2-MUST-01"],
            "Re-enrolls with a different subject than the certificate being renewed.",
            _quirk(keep_reenroll_identity=False),
        ),
        _client(
            "pop-stale-tls-unique",
            ["RFC7030-3.5-MUST-03"],
            "Puts the tls-unique of an earlier connection into challengePassword instead of "
            "the one of the connection carrying the CSR.",
            _quirk(pop_from_other_connection=True),
        ),
        _client(
            "csr-signed-with-other-key",
            ["RFC7030-4.2.1-MUST-02"],
            "Signs the first CSR of each request with a key other than the one it certifies; "
            "after the server's 400 it sends a properly signed CSR (so enrollment completes).",
            _quirk(csr_signed_by_other_key=True),
        ),
        _client(
            "reenroll-with-idevid",
            ["RFC7030-3.3.2-MUST-03"],
            "Re-enrolls over a TLS connection authenticated with the IDevID instead of the "
            "certificate being renewed.",
            _quirk(reenroll_with_idevid=True),
        ),
        _client(
            "cacerts-error-installs",
            ["RFC7030-4.1.3-MUST-02"],
            "Writes its explicit TA store before looking at the /cacerts status: a non-200 "
            "answer leaves the bootstrap trust anchor installed as explicit TA.",
            _quirk(install_cacerts_on_error=True),
        ),
        _client(
            "cacerts-no-path-validation",
            ["RFC7030-4.1.3-MUST-07"],
            "Installs every /cacerts certificate, also those without a path to its trust anchor.",
            _quirk(validate_cacerts=False),
        ),
        _client(
            "strict-base64",
            ["RFC8951-3.1-SHOULD-02"],
            "Takes base64 bodies with LF line breaks only; refuses spaces, tabs and CR in them.",
            _quirk(tolerate_blanks=False),
        ),
        _client(
            "pop-nonempty-challenge",
            ["RFC7030-3.5-MUST-02"],
            "Puts a fixed enrollment secret into challengePassword when not linking tls-unique, "
            "where the attribute must be absent or empty.",
            _quirk(fixed_challenge=b"est-enrollment-secret"),
        ),
        _client(
            "skips-cacerts",
            ["RFC7030-4.2-SHOULD-01"],
            "Enrolls from an empty state without fetching /cacerts first.",
            _quirk(fetch_cacerts_first=False),
        ),
        _client(
            "skips-csrattrs",
            ["RFC7030-4.5-SHOULD-01"],
            "Builds the CSR without requesting /csrattrs (uses only what it stored before).",
            _quirk(fetch_csrattrs_first=False),
        ),
    ]
)
