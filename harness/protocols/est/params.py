"""Parameters of an EST client DUT action, shared by every EST client the harness drives.

The reference client (`reference_client.py`) and the curl+openssl client script read
the same environment variables; the names below are the single list both follow, so
a process-adapter DUT profile can pass one set of parameters to either.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

URL = "ONBOARDCHECK_EST_URL"  # base URL incl. /.well-known/est[/label]
TRUST_ANCHORS = "ONBOARDCHECK_TRUST_ANCHORS"  # PEM: explicit TA for the server's TLS cert
CLIENT_CERT = "ONBOARDCHECK_CLIENT_CERT"  # PEM: IDevID (or chain) for TLS client auth; may be empty
CLIENT_KEY = "ONBOARDCHECK_CLIENT_KEY"  # PEM key of CLIENT_CERT; may be empty
USERNAME = "ONBOARDCHECK_USERNAME"  # HTTP Basic; may be empty
PASSWORD = "ONBOARDCHECK_PASSWORD"  # HTTP Basic; may be empty
STATE_DIR = "ONBOARDCHECK_STATE_DIR"  # the DUT's state folder
SUBJECT_CN = "ONBOARDCHECK_SUBJECT_CN"  # CN of the CSR subject
TIMEOUT = "ONBOARDCHECK_TIMEOUT"  # seconds, bounds the whole action incl. 202 retries
POP = "ONBOARDCHECK_POP"  # "1": put base64(tls-unique) into the CSR's challengePassword
KEYLOG = "ONBOARDCHECK_KEYLOG"  # optional client-side NSS key log
# PEM: the DUT's Implicit TA database (RFC 7030 §3.1), standing for e.g. public web roots
# a device ships with; the harness cannot install roots in a real device's system store.
IMPLICIT_TAS = "ONBOARDCHECK_IMPLICIT_TAS"
USE_IMPLICIT_TA = "ONBOARDCHECK_USE_IMPLICIT_TA"  # "1": the Implicit TA database is enabled
# RFC 7030 §4.1.1 bootstrap: SHA-256 fingerprint (hex) of the CA certificate a human has
# verified out of band; empty: no bootstrap.
BOOTSTRAP_FINGERPRINT = "ONBOARDCHECK_BOOTSTRAP_FINGERPRINT"

ALL_NAMES: tuple[str, ...] = (
    URL,
    TRUST_ANCHORS,
    CLIENT_CERT,
    CLIENT_KEY,
    USERNAME,
    PASSWORD,
    STATE_DIR,
    SUBJECT_CN,
    TIMEOUT,
    POP,
    KEYLOG,
    IMPLICIT_TAS,
    USE_IMPLICIT_TA,
    BOOTSTRAP_FINGERPRINT,
)

# Files an EST client DUT keeps in STATE_DIR (what tests read back as the DUT's state).
CACERTS_FILE = "cacerts.pem"  # explicit TA database from /cacerts
CSRATTRS_FILE = "csrattrs.der"
CERT_FILE = "cert.pem"
KEY_FILE = "key.pem"
SERVERKEYGEN_KEY_FILE = "serverkeygen-key.pem"
SERVERKEYGEN_CERT_FILE = "serverkeygen-cert.pem"

ACTIONS: tuple[str, ...] = ("cacerts", "csrattrs", "enroll", "reenroll", "serverkeygen")

# Exit codes of a client action.
EXIT_OK = 0
EXIT_REFUSED = 1  # the client refused a bad answer or could not complete the exchange
EXIT_USAGE = 2


@dataclass
class EstClientParams:
    """The typed form of the environment variables above (field name = variable suffix)."""

    est_url: str
    state_dir: Path
    trust_anchors: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    username: str = ""
    password: str = ""
    subject_cn: str = "onboardcheck-device"
    timeout: float = 10.0
    pop: bool = False
    keylog: Path | None = None
    implicit_tas: Path | None = None
    use_implicit_ta: bool = False
    bootstrap_fingerprint: str = ""

    def to_env(self) -> dict[str, str]:
        """The environment variables a client process reads (empty string = not set)."""
        return {
            URL: self.est_url,
            TRUST_ANCHORS: _path_text(self.trust_anchors),
            CLIENT_CERT: _path_text(self.client_cert),
            CLIENT_KEY: _path_text(self.client_key),
            USERNAME: self.username,
            PASSWORD: self.password,
            STATE_DIR: str(self.state_dir),
            SUBJECT_CN: self.subject_cn,
            TIMEOUT: _number_text(self.timeout),
            POP: "1" if self.pop else "0",
            KEYLOG: _path_text(self.keylog),
            IMPLICIT_TAS: _path_text(self.implicit_tas),
            USE_IMPLICIT_TA: "1" if self.use_implicit_ta else "0",
            BOOTSTRAP_FINGERPRINT: self.bootstrap_fingerprint,
        }

    def to_params(self) -> dict[str, str]:
        """The controller's `params` form: lower-case names without the prefix."""
        return {name.removeprefix("ONBOARDCHECK_").lower(): v for name, v in self.to_env().items()}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EstClientParams:
        """Read the variables; raises ValueError naming the variable that is missing or bad."""
        env = os.environ if env is None else env
        url = env.get(URL, "").strip()
        state = env.get(STATE_DIR, "").strip()
        if not url:
            raise ValueError(f"{URL} is not set")
        if not state:
            raise ValueError(f"{STATE_DIR} is not set")
        timeout_text = env.get(TIMEOUT, "").strip() or "10"
        try:
            timeout = float(timeout_text)
        except ValueError:
            raise ValueError(f"{TIMEOUT}={timeout_text!r} is not a number") from None
        if timeout <= 0:
            raise ValueError(f"{TIMEOUT} must be positive")
        return cls(
            est_url=url,
            state_dir=Path(state),
            trust_anchors=_opt_path(env.get(TRUST_ANCHORS)),
            client_cert=_opt_path(env.get(CLIENT_CERT)),
            client_key=_opt_path(env.get(CLIENT_KEY)),
            username=env.get(USERNAME, ""),
            password=env.get(PASSWORD, ""),
            subject_cn=env.get(SUBJECT_CN, "").strip() or "onboardcheck-device",
            timeout=timeout,
            pop=env.get(POP, "").strip() == "1",
            keylog=_opt_path(env.get(KEYLOG)),
            implicit_tas=_opt_path(env.get(IMPLICIT_TAS)),
            use_implicit_ta=env.get(USE_IMPLICIT_TA, "").strip() == "1",
            bootstrap_fingerprint=env.get(BOOTSTRAP_FINGERPRINT, "").strip(),
        )


def _opt_path(text: str | None) -> Path | None:
    return Path(text.strip()) if text and text.strip() else None


def _path_text(path: Path | None) -> str:
    return str(path) if path is not None else ""


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# Keep the dataclass and the name list from drifting apart: one field per variable.
assert len(fields(EstClientParams)) == len(ALL_NAMES)
