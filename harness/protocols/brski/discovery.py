"""Registrar discovery by mDNS / DNS-SD (RFC 6762, RFC 6763; RFC 8995 §4.1, Appendix B).

    with RegistrarAnnouncer("127.0.0.1", 8443):          # the registrar's side
        found = discover_registrars(timeout=5.0)          # the pledge's side
        found[0].url                                       # "https://127.0.0.1:8443"

The announcer publishes one DNS-SD service instance of `_brski-registrar._tcp.local`:
PTR to the instance, SRV to its host name and TCP port, an A record per address and
a TXT record (RFC 8995 defines no TXT keys: empty unless given). The browser sends
mDNS queries for the service type, resolves each instance it hears of (SRV, TXT,
A) and returns the candidates it could resolve within a bounded wait; none gives a
typed `DiscoveryError`. GRASP (RFC 8995 §4.3) is not done.

Both sides are python-zeroconf, confined to the interface addresses given
(127.0.0.1 by default). Multicast there works although Linux's `lo` has no MULTICAST
flag: with IP_MULTICAST_IF set to 127.0.0.1 and IP_MULTICAST_LOOP on, the kernel
delivers a datagram for 224.0.0.251 to the sockets of this namespace that joined the
group on lo. On the host's own namespace every mDNS user of the machine shares that
group, so tests run both sides inside a test-network node's namespace (Node.inside()):
sockets keep the namespace they were created in, so creating the announcer or
browsing inside the block is enough.

Answers are input from the network: an instance whose SRV/A records are missing,
whose port is 0, or whose addresses are unusable is left out (its reason kept in
`DiscoveryError.rejected`); zeroconf itself drops datagrams that do not parse.
"""

from __future__ import annotations

import ipaddress
import queue
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.protocols.brski.errors import BrskiError

REGISTRAR_SERVICE = "_brski-registrar._tcp.local."
PROXY_SERVICE = "_brski-proxy._tcp.local."  # a join proxy's (RFC 8995 Appendix B)
DEFAULT_INTERFACES = ("127.0.0.1",)
DEFAULT_TIMEOUT = 5.0
SETTLE = 0.5  # after the first usable answer: how long to wait for further registrars
MAX_CANDIDATES = 16  # a flood of instances is not followed further
RESOLVE_WAIT = 1.0  # per instance: one that never resolves must not use up the whole wait


class DiscoveryError(BrskiError):
    """No usable registrar answered within the wait; `rejected` says what was heard."""

    def __init__(self, message: str, rejected: Sequence[str] = ()):
        self.rejected = list(rejected)
        detail = f" (ignored: {'; '.join(self.rejected)})" if self.rejected else ""
        super().__init__("discovery", message + detail)


@dataclass(frozen=True)
class RegistrarCandidate:
    """One resolved service instance."""

    instance: str  # the full instance name, e.g. "reg._brski-registrar._tcp.local."
    server: str  # the SRV target host name
    port: int
    addresses: tuple[str, ...]  # IPv4 first
    txt: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """https://address:port of the first address (brackets for IPv6)."""
        address = self.addresses[0]
        host = f"[{address}]" if ":" in address else address
        return f"https://{host}:{self.port}"


def _zeroconf(interfaces: Sequence[str]):  # -> zeroconf.Zeroconf
    from zeroconf import IPVersion, Zeroconf  # a well-kept mDNS / DNS-SD library

    v6 = any(":" in i for i in interfaces)
    version = IPVersion.All if v6 else IPVersion.V4Only
    try:
        return Zeroconf(interfaces=list(interfaces), ip_version=version)
    except (OSError, ValueError) as exc:
        raise DiscoveryError(f"cannot open mDNS sockets on {list(interfaces)}: {exc}") from exc


class RegistrarAnnouncer:
    """Announces one registrar (a context manager, or start()/stop())."""

    def __init__(self, host: str, port: int, *, instance: str = "onboardcheck-registrar",
                 addresses: Sequence[str] | None = None, txt: Mapping[str, str] | None = None,
                 service: str = REGISTRAR_SERVICE,
                 interfaces: Sequence[str] = DEFAULT_INTERFACES):  # fmt: skip
        if not 0 < port < 65536:
            raise DiscoveryError(f"cannot announce port {port}")
        self.service = service
        self.instance = f"{instance}.{service}"
        self.server = f"{instance}.local."
        self.port = port
        try:
            self.addresses = [str(ipaddress.ip_address(a)) for a in (addresses or [host])]
        except ValueError as exc:
            raise DiscoveryError(f"cannot announce address: {exc}") from exc
        self.txt = dict(txt or {})
        self.interfaces = list(interfaces)
        self._zc = None
        self._info = None

    def start(self) -> RegistrarAnnouncer:
        from zeroconf import ServiceInfo

        info = ServiceInfo(self.service, self.instance, port=self.port, server=self.server,
                           properties=self.txt, parsed_addresses=self.addresses)  # fmt: skip
        zc = _zeroconf(self.interfaces)
        try:
            # Probing (RFC 6762 §8.1) first: a name already taken on the link fails here.
            zc.register_service(info)
        except Exception as exc:  # zeroconf raises its own NonUniqueNameException etc.
            zc.close()
            raise DiscoveryError(f"cannot announce {self.instance}: {exc!r}") from exc
        self._zc, self._info = zc, info
        return self

    def stop(self) -> None:
        zc, self._zc = self._zc, None
        if zc is None:
            return
        try:
            zc.unregister_all_services()  # goodbye packets (TTL 0), RFC 6762 §10.1
        finally:
            zc.close()

    def __enter__(self) -> RegistrarAnnouncer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def discover_registrars(timeout: float = DEFAULT_TIMEOUT, *,
                        service: str = REGISTRAR_SERVICE,
                        interfaces: Sequence[str] = DEFAULT_INTERFACES,
                        settle: float = SETTLE) -> list[RegistrarCandidate]:  # fmt: skip
    """Browse for `service`; the usable candidates, in the order they were heard.

    Returns `settle` seconds after the first usable answer, or at `timeout` at the
    latest; raises DiscoveryError when none was usable by then.
    """
    from zeroconf import ServiceBrowser, ServiceStateChange

    heard: queue.Queue[str] = queue.Queue()

    def on_change(zeroconf: object, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:  # fmt: skip
        if state_change is not ServiceStateChange.Removed:
            heard.put(name)

    deadline = time.monotonic() + timeout
    found: list[RegistrarCandidate] = []
    rejected: list[str] = []
    seen: set[str] = set()
    zc = _zeroconf(interfaces)
    browser = ServiceBrowser(zc, service, handlers=[on_change])
    try:
        while len(seen) < MAX_CANDIDATES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                name = heard.get(timeout=remaining)
            except queue.Empty:
                break
            if name in seen:
                continue
            seen.add(name)
            wait = min(max(deadline - time.monotonic(), 0.1), RESOLVE_WAIT)
            candidate, why = _resolve(zc, service, name, wait)
            if candidate is None:
                rejected.append(f"{name!r}: {why}")
                continue
            found.append(candidate)
            deadline = min(deadline, time.monotonic() + settle)
    finally:
        browser.cancel()
        zc.close()
    if not found:
        raise DiscoveryError(f"no {service.rstrip('.')} answered within {timeout:g} s "
                             f"on {', '.join(interfaces)}", rejected)  # fmt: skip
    return found


def _resolve(zc, service: str, name: str,  # zc: zeroconf.Zeroconf
             wait: float) -> tuple[RegistrarCandidate | None, str]:  # fmt: skip
    try:
        info = zc.get_service_info(service, name, timeout=int(wait * 1000))
    except Exception as exc:  # a name zeroconf will not query (BadTypeInNameException ...)
        return None, f"not resolvable: {exc!r}"
    if info is None:
        return None, "no SRV/TXT/address answer"
    if not info.port:
        return None, "SRV port 0"
    addresses = []
    for address in info.parsed_addresses():
        ip = ipaddress.ip_address(address)
        if ip.is_unspecified or ip.is_multicast or (ip.version == 4 and ip.is_reserved):
            continue  # nowhere a TCP connection could go
        addresses.append(str(ip))
    if not addresses:
        return None, "no usable address"
    addresses.sort(key=lambda a: ":" in a)
    txt = {}
    for key, value in (info.properties or {}).items():
        if isinstance(key, bytes):
            txt[key.decode("utf-8", "replace")] = (value or b"").decode("utf-8", "replace")
    server = info.server or ""
    return RegistrarCandidate(name, server, int(info.port), tuple(addresses), txt), ""


def first_registrar_url(timeout: float = DEFAULT_TIMEOUT, *,
                        interfaces: Sequence[str] = DEFAULT_INTERFACES) -> str:  # fmt: skip
    """The URL of the first registrar discovered (what the pledge connects to)."""
    return discover_registrars(timeout, interfaces=interfaces)[0].url
