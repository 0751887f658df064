"""The reference DPP device: the harness's own enrollee/configurator run as a DUT.

It offers the DPP DUT actions of docs/dut-profile.md (bootstrap, listen, initiate,
received, events, reset) in-process, so the suite can be shown passing on it and
failing on its mutants. Its sockets are made on the DUT's node; each exchange runs in
a daemon thread, as a device's DPP stack would run beside its control interface.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from harness.medium import UdpRadio
from harness.medium.udp import MuxedRadio, RadioMux
from harness.protocols.dpp import connector as conn
from harness.protocols.dpp import crypto
from harness.protocols.dpp.auth import AuthRole, Bootstrap, Initiator, Responder
from harness.protocols.dpp.config import Configurator
from harness.protocols.dpp.exchange import (
    ConfigSide,
    Exchange,
    Outcome,
    run_initiator,
    run_responder,
)
from harness.protocols.dpp.mutants import quirks_of
from harness.protocols.dpp.transport import AirLink, TcpLink
from harness.protocols.dpp.uri import BootstrapInfo, make_uri, parse_uri

if TYPE_CHECKING:
    from harness.backends import Node

EXCHANGE_TIMEOUT = 10.0
JOIN_WAIT = 1.0  # reset() waits this long for each exchange thread, then leaves it
OWN_MAC = "02:0b:c0:00:00:02"


class ReferenceDppDevice:
    def __init__(self, mutant: str | None = None, node: Node | None = None):
        self.mutant = mutant
        self.node = node
        self.auth_quirks, self.config_quirks, self.device_quirks = quirks_of(mutant)
        self.own: Bootstrap | None = None
        self.events: list[str] = []
        self.installed: dict[str, object] | None = None
        self._listener: socket.socket | None = None
        self._radio: UdpRadio | None = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._links: list[TcpLink | AirLink] = []
        # Bumped by reset(): an exchange of an earlier generation that ends late must not
        # install anything into the fresh state.
        self._generation = 0

    # -- actions ---------------------------------------------------------------------------

    def bootstrap(self, curve: str = "P-256") -> str:
        self.own = Bootstrap.generate(crypto.CURVES[curve])
        key_der = self.own.spki()
        if self.device_quirks.bad_uri_key:  # secp256k1: a curve DPP does not define
            other = ec.generate_private_key(ec.SECP256K1()).public_key()
            key_der = other.public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
            return "DPP:V:2;K:" + base64.b64encode(key_der).decode() + ";;"
        return make_uri(BootstrapInfo(key_der=key_der, channels=[(81, 1)],
                                      mac=None, info=None, version=2, host=None))  # fmt: skip

    def listen(self, params: dict[str, str]) -> None:
        own = self._own(params)
        port = int(params["dut_port"])
        if params.get("link") == "80211":
            radio = UdpRadio.bind("0.0.0.0", port, inside=self._placed)
            self._radio = radio
            self._spawn(self._air_loop, radio, own, params, self._generation)
            return
        with self._placed():
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", port))  # as wpa_supplicant's controller: every address
            sock.listen(4)
            sock.settimeout(0.2)
        self._close_listener()
        self._listener = sock
        self._spawn(self._accept_loop, sock, own, params, self._generation)

    def initiate(self, params: dict[str, str]) -> None:
        peer = parse_uri(params["peer_uri"])
        address = (params["peer_host"], int(params["peer_port"]))
        link: TcpLink | AirLink
        if params.get("link") == "80211":
            radio = UdpRadio.bind("0.0.0.0", 0, address, inside=self._placed)
            link = AirLink(radio, params.get("dut_mac") or OWN_MAC, params.get("peer_mac"))
        else:
            with self._placed():
                sock = socket.create_connection(address, timeout=EXCHANGE_TIMEOUT)
            link = TcpLink(sock, self.device_quirks.tcp_category_octet)
        role = AuthRole(params.get("role", "enrollee"))
        initiator = Initiator(peer.public_key(), role, own=self.own if params.get("mutual") == "1"
                              else None, quirks=self.auth_quirks)  # fmt: skip
        self._links.append(link)
        self._spawn(self._initiate, link, initiator, params, self._generation)

    def received(self) -> str | None:
        with self._lock:
            return json.dumps(self.installed) if self.installed is not None else None

    def reset(self) -> None:
        self._generation += 1
        self._close_listener()
        self._stop.set()
        for link in self._links:
            link.close()
        self._links.clear()
        for thread in self._threads:
            thread.join(timeout=JOIN_WAIT)
        self._threads.clear()
        self._stop = threading.Event()
        self.own = None
        self.events.clear()
        with self._lock:
            self.installed = None

    stop = reset

    # -- internals -------------------------------------------------------------------------

    def _own(self, params: dict[str, str]) -> Bootstrap:
        if self.own is None:
            self.bootstrap(params.get("curve", "P-256"))
        assert self.own is not None
        return self.own

    def _placed(self) -> contextlib.AbstractContextManager[None]:
        return self.node.inside() if self.node is not None else contextlib.nullcontext()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _close_listener(self) -> None:
        if self._radio is not None:
            self._radio.close()
            self._radio = None
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None

    def _side(self, role: AuthRole, params: dict[str, str]) -> ConfigSide:
        if role == AuthRole.CONFIGURATOR:
            curve = crypto.curve_of(self.own.key).name if self.own else "P-256"
            if self.config_quirks.ignore_curve:
                curve = "P-256"
            configurator = Configurator.generate(curve, ssid=params.get("ssid") or "dpp-ref",
                                                 akm=params.get("akm") or "dpp",
                                                 passphrase=params.get("passphrase") or None)
            return ConfigSide(configurator=configurator, quirks=self.config_quirks)
        return ConfigSide(quirks=self.config_quirks)

    def _accept_loop(self, sock: socket.socket, own: Bootstrap, params: dict[str, str],
                     generation: int) -> None:
        role = AuthRole(params.get("role", "configurator"))
        peer = parse_uri(params["peer_uri"]) if params.get("peer_uri") else None
        while not self._stop.is_set():
            try:
                client, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            responder = Responder(own, role, peer=peer.public_key() if peer else None,
                                  quirks=self.auth_quirks)  # fmt: skip
            link = TcpLink(client, self.device_quirks.tcp_category_octet)
            try:
                ex = run_responder(link, responder, self._side(role, params), EXCHANGE_TIMEOUT)
            finally:
                link.close()
            self._record(ex, role, generation)
            if ex.outcome == Outcome.GARBAGE and self.device_quirks.dies_on_garbage:
                self._close_listener()
                return

    def _air_loop(self, radio: UdpRadio, own: Bootstrap, params: dict[str, str],
                  generation: int) -> None:
        """Answers exchanges on the medium, one session per transmitting radio."""
        role = AuthRole(params.get("role", "configurator"))
        peer = parse_uri(params["peer_uri"]) if params.get("peer_uri") else None

        def session(share: MuxedRadio) -> None:
            link = AirLink(share, params.get("dut_mac") or OWN_MAC)  # type: ignore[arg-type]
            responder = Responder(own, role, peer=peer.public_key() if peer else None,
                                  quirks=self.auth_quirks)  # fmt: skip
            ex = run_responder(link, responder, self._side(role, params), EXCHANGE_TIMEOUT)
            self._record(ex, role, generation)
            if ex.outcome == Outcome.GARBAGE and self.device_quirks.dies_on_garbage:
                self._close_listener()

        RadioMux(radio, session, self._stop).run()

    def _initiate(self, link: TcpLink | AirLink, initiator: Initiator,
                  params: dict[str, str], generation: int) -> None:
        try:
            self._record(run_initiator(link, initiator, self._side(initiator.role, params),
                                       EXCHANGE_TIMEOUT), initiator.role, generation)  # fmt: skip
        finally:
            link.close()

    def _record(self, ex: Exchange, role: AuthRole, generation: int | None = None) -> None:
        if generation is not None and generation != self._generation:
            return  # an exchange from before the last reset
        self.events.append(f"DPP-EXCHANGE role={role} outcome={ex.outcome} reason={ex.reason}")
        got = ex.received
        if role != AuthRole.ENROLLEE or got is None or not got.objects:
            return
        bad_connector = ex.outcome == Outcome.REJECTED and got.connector_error is not None
        if ex.outcome != Outcome.CONFIGURED and not (
                bad_connector and self.config_quirks.skip_connector_check):
            return
        if self.device_quirks.forgets_config:
            return
        obj = got.objects[0]
        own_key = ex.keys.own_protocol_key if ex.keys else None
        if own_key is not None and self.device_quirks.reports_wrong_nak:
            own_key = crypto.generate_key(crypto.curve_of(own_key))
        with self._lock:
            self.installed = {
                "ssid": obj.ssid, "akm": obj.akm, "connector": obj.connector,
                "c_sign_key": crypto.spki_der(conn.public_from_jwk(obj.csign)).hex()
                if obj.csign else None,
                "net_access_key": own_key.private_bytes(
                    serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()).hex() if own_key and obj.connector else None,
                "passphrase": obj.passphrase, "events": list(self.events),
            }  # fmt: skip
