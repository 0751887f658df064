"""`onboardcheck peer est-server`: the EST server tester peer for third-party clients.

The PKI is shaped like the EST testbed's (harness.protocols.est.testbed.EstPkiSet): a
root CA (the devices' explicit trust anchor), an EST CA under it that issues the
devices' certificates, and a manufacturer CA whose IDevIDs the server accepts. It is
kept in ``DIR/pki`` and reused on the next start, so devices configured once keep
working across restarts; the server certificate is issued afresh each start (its
names follow ``--listen`` and ``--san``).

Files in DIR (see ``FILES``): what a device needs, and the evidence of the session.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import re
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from rich.console import Console

from harness.crypto.pki import CertifiedKey, Pki
from harness.errors import UsageError
from harness.protocols.est.server import EstServerConfig, EstServerPeer, Exchange

FILES = {
    "trust_anchor": "trust-anchor.pem",  # the root CA: give it to the devices
    "manufacturer_ca": "manufacturer-ca.pem",  # the IDevID CA the server trusts
    "idevid": "idevid.pem",  # a sample IDevID (cert + chain) for devices without one
    "idevid_key": "idevid.key",
    "credentials": "credentials.txt",  # HTTP Basic user and password
    "keylog": "tls.keylog",  # NSS key log: lets Wireshark decrypt a capture
    "log": "peer.log",
    "manifest": "peer.json",  # all of the above, machine-readable
}
PKI_DIR = "pki"
PKI_ITEMS = ("root", "ca", "manufacturer", "idevid")
SAMPLE_SERIAL = "PLUGFEST-0001"
LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"]
POLL = 0.5  # seconds between looks at new exchanges and the clock
_HOSTNAME = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")


@dataclass
class EstServerOptions:
    listen: str = "127.0.0.1"
    port: int = 8443
    out: Path = Path("reports/peers/est-server")
    duration: float | None = None
    sans: list[str] = field(default_factory=list)
    client_cas: list[Path] = field(default_factory=list)
    username: str = "estuser"
    password: str | None = None
    new_pki: bool = False


@dataclass
class EstPlugfestPki:
    root: CertifiedKey
    ca: CertifiedKey
    manufacturer: CertifiedKey
    idevid: CertifiedKey

    @classmethod
    def create(cls, pki: Pki) -> EstPlugfestPki:
        root = pki.root_ca("onboardcheck EST Root CA")
        manufacturer = pki.root_ca("onboardcheck Manufacturer CA")
        return cls(
            root=root,
            ca=pki.sub_ca(root, "onboardcheck EST CA"),
            manufacturer=manufacturer,
            idevid=pki.idevid(manufacturer, serial_number=SAMPLE_SERIAL, model="plugfest"),
        )

    @classmethod
    def load(cls, folder: Path) -> EstPlugfestPki:
        """The PKI an earlier run wrote; UsageError when it is incomplete or unreadable."""
        try:
            return cls(*(_load_certified(folder, stem) for stem in PKI_ITEMS))
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(
                f"{folder} holds an incomplete or unreadable PKI ({exc}); "
                "remove it or pass --new-pki"
            ) from None

    def write(self, folder: Path) -> None:
        for stem in PKI_ITEMS:
            getattr(self, stem).write(folder, stem)


def _load_certified(folder: Path, stem: str) -> CertifiedKey:
    cert = x509.load_pem_x509_certificate((folder / f"{stem}.crt").read_bytes())
    key = load_pem_private_key((folder / f"{stem}.key").read_bytes(), None)
    chain_pem = (folder / f"{stem}.chain.pem").read_bytes()
    chain = x509.load_pem_x509_certificates(chain_pem) if chain_pem.strip() else []
    return CertifiedKey(cert, key, chain)  # type: ignore[arg-type]


# -- input checks ---------------------------------------------------------------------------


def listen_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise UsageError(f"--listen {text!r} is not an IPv4 or IPv6 address") from None


def server_names(
    listen: ipaddress.IPv4Address | ipaddress.IPv6Address, extra: list[str]
) -> list[str]:
    """The server certificate's SANs: the listen address, --san, and the loopback
    names when the peer is reachable there (a wildcard or loopback listen address)."""
    names: list[str] = []
    if not listen.is_unspecified:
        names.append(str(listen))
    for name in extra:
        try:
            names.append(str(ipaddress.ip_address(name)))
        except ValueError:
            if not _HOSTNAME.fullmatch(name) or not name.isascii():
                raise UsageError(
                    f"--san {name!r} is neither an IP address nor a DNS name"
                ) from None
            names.append(name.rstrip(".").lower())
    if listen.is_unspecified or listen.is_loopback:
        names += LOOPBACK_NAMES
    return list(dict.fromkeys(names))  # in order, once each


def check_port(port: int) -> int:
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a TCP port (0-65535)")
    return port


def check_duration(duration: float | None) -> float | None:
    if duration is not None and not 0 < duration < 1e9:
        raise UsageError(f"--duration {duration} must be a positive number of seconds")
    return duration


def writable_folder(out: Path) -> Path:
    """Create `out` if need be and prove it takes files; UsageError otherwise."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{secrets.token_hex(4)}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write there: {exc.strerror or exc}") from None
    return out


def client_cas(paths: list[Path]) -> list[x509.Certificate]:
    found: list[x509.Certificate] = []
    for path in paths:
        try:
            found += x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"--client-ca {path}: not a readable PEM certificate file ({exc})"
            ) from None
    return found


# -- files ----------------------------------------------------------------------------------


def _credentials(out: Path, username: str, password: str | None) -> tuple[str, str]:
    """The HTTP Basic credentials: as given, else the password an earlier run kept."""
    if not username or ":" in username:
        raise UsageError(f"--username {username!r} must be non-empty and without ':'")
    path = out / FILES["credentials"]
    if password is None and path.exists():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            kept = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
            if kept.get("username") == username and kept.get("password"):
                password = kept["password"]
    password = password or secrets.token_urlsafe(12)
    path.write_text(f"username={username}\npassword={password}\n")
    return username, password


def _pki(out: Path, new: bool) -> EstPlugfestPki:
    folder = out / PKI_DIR
    if not new and (folder / "root.crt").exists():
        return EstPlugfestPki.load(folder)
    made = EstPlugfestPki.create(Pki.create(folder))
    made.write(folder)
    return made


def _write_device_files(out: Path, pki: EstPlugfestPki) -> None:
    (out / FILES["trust_anchor"]).write_bytes(pki.root.cert_pem())
    (out / FILES["manufacturer_ca"]).write_bytes(pki.manufacturer.cert_pem())
    (out / FILES["idevid"]).write_bytes(pki.idevid.cert_pem() + pki.idevid.chain_pem())
    key = out / FILES["idevid_key"]
    key.write_bytes(pki.idevid.key_pem())
    key.chmod(0o600)


def _urls(
    listen: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, names: list[str]
) -> list[str]:
    hosts = [str(listen)] if not listen.is_unspecified else names
    return [f"https://{f'[{h}]' if ':' in h else h}:{port}/.well-known/est" for h in hosts]


# -- running --------------------------------------------------------------------------------


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM end the run cleanly (exit 0) instead of killing it."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _describe(exchange: Exchange) -> str:
    stamp = dt.datetime.fromtimestamp(exchange.time).strftime("%H:%M:%S")
    who = exchange.client_subject or exchange.basic_user or "anonymous"
    status = exchange.status if exchange.status is not None else "no answer"
    return f"{stamp} {exchange.method} {exchange.path} [{who}] -> {status}"


def serve_est(options: EstServerOptions, out: Console, err: Console) -> int:
    """Run the EST server peer until a signal or the duration ends; returns 0.

    Raises UsageError (bad option) or PeerError (cannot listen) before serving.
    """
    listen = listen_address(options.listen)
    port = check_port(options.port)
    duration = check_duration(options.duration)
    names = server_names(listen, options.sans)
    extra_trust = client_cas(options.client_cas)
    folder = writable_folder(options.out)
    (folder / FILES["manifest"]).unlink(missing_ok=True)  # a stale one would say "listening"
    username, password = _credentials(folder, options.username, options.password)
    pki = _pki(folder, options.new_pki)
    _write_device_files(folder, pki)
    server_cert = Pki.create().server_cert(pki.ca, names[0], sans=names)
    config = EstServerConfig(
        credential=server_cert,
        ca=pki.ca,
        host=str(listen),
        port=port,
        client_trust=[pki.manufacturer.cert, pki.ca.cert, *extra_trust],
        users={username: password},
        keylog=folder / FILES["keylog"],
        log=folder / FILES["log"],
    )
    server = EstServerPeer(config).start()  # PeerError: port in use, address not ours
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            urls = _urls(listen, server.port, names)
            _write_manifest(folder, urls, names, username, password)
            _announce(out, urls, names, folder, username, password, duration)
            _serve_until(stop, server, out, duration)
    finally:
        server.stop()
    err.print(
        f"est-server: stopped after {len(server.exchanges)} request(s); "
        f"key log {folder / FILES['keylog']}",
        highlight=False,
    )
    return 0


def _serve_until(
    stop: threading.Event, server: EstServerPeer, out: Console, duration: float | None
) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    shown = 0
    while not stop.is_set():
        wait = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
        stop.wait(wait)
        for exchange in server.exchanges[shown:]:
            out.print(_describe(exchange), highlight=False, markup=False)
            shown += 1
        if deadline is not None and time.monotonic() >= deadline:
            break


def _write_manifest(
    folder: Path, urls: list[str], names: list[str], username: str, password: str
) -> None:
    manifest = {
        "peer": "est-server",
        "urls": urls,
        "server_names": names,
        "username": username,
        "password": password,
        "files": {key: str((folder / name).resolve()) for key, name in FILES.items()},
    }
    # Written whole then renamed: its presence tells scripts the peer is listening.
    partial = folder / (FILES["manifest"] + ".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(folder / FILES["manifest"])


def _announce(
    out: Console,
    urls: list[str],
    names: list[str],
    folder: Path,
    username: str,
    password: str,
    duration: float | None,
) -> None:
    def line(label: str, value: str) -> None:
        out.print(f"{label:<22}{value}", highlight=False, markup=False)

    for url in urls:
        line("EST URL", url)
    line("server names", ", ".join(names))
    line("trust anchor", str(folder / FILES["trust_anchor"]))
    line("IDevID CA trusted", str(folder / FILES["manufacturer_ca"]))
    line("sample IDevID", f"{folder / FILES['idevid']} (key {FILES['idevid_key']})")
    line("HTTP Basic", f"{username} / {password} ({folder / FILES['credentials']})")
    line("TLS key log", str(folder / FILES["keylog"]))
    line("peer log", str(folder / FILES["log"]))
    until = f"for {duration:g} s" if duration is not None else "until SIGINT/SIGTERM (Ctrl-C)"
    line("serving", until)
