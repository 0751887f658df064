"""The HTTPS server of the registrar and the MASA: the EST server peer with routes.

Both listen with the EST server peer's TLS and HTTP/1.1 stack (harness.protocols.est
.server); a route claims the BRSKI paths and everything else goes to EST (the
registrar, RFC 8995 §5.9) or is answered 404 (the MASA). Handlers are synchronous and
run in a worker thread, as the registrar's calls the MASA while the pledge waits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import h11

from harness.crypto.certs import subject_of
from harness.errors import OnboardcheckError
from harness.protocols.brski.errors import Refusal
from harness.protocols.est.server import EstConnection, EstServerPeer, Exchange
from harness.protocols.est.server_ops import OpReply


@dataclass
class BrskiRequest:
    """One HTTP request as a route handler sees it (header names lower case)."""

    method: str
    path: str  # without the query
    headers: list[tuple[str, str]]
    body: bytes
    peer_cert_der: bytes | None  # the TLS client certificate, verified by the TLS layer

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)


Handler = Callable[[BrskiRequest], OpReply]


def text_reply(status: int, message: str) -> OpReply:
    body = (message + "\n").encode()
    return OpReply(status, [("Content-Type", "text/plain; charset=utf-8")], body, message)


def run_handler(handler: Handler, request: BrskiRequest) -> OpReply:
    """The handler's reply; a Refusal or any other harness error becomes an error reply,
    and a bug in a handler a 500, so hostile input never stops the peer."""
    try:
        return handler(request)
    except Refusal as exc:
        return text_reply(exc.status, exc.reason)
    except OnboardcheckError as exc:
        return text_reply(400, str(exc))
    except Exception as exc:  # the peer must answer whatever happens
        return text_reply(500, f"internal error: {type(exc).__name__}: {exc}")


class BrskiServerPeer(EstServerPeer):
    """An EST server peer whose `route()` may claim a request first."""

    serves_est = True  # paths no route claims go to EST; False: 404

    def route(self, request: BrskiRequest) -> Handler | None:
        return None

    def connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> EstConnection:
        return _RoutedConnection(self, reader, writer)


class _RoutedConnection(EstConnection):
    peer: BrskiServerPeer

    async def _answer(self, request: h11.Request, body: bytes) -> bool:
        peer = self.peer
        method = request.method.decode("ascii", "replace")
        target = request.target.decode("ascii", "replace")
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in request.headers]
        req = BrskiRequest(method, target.split("?", 1)[0], headers, body, self.peer_cert)
        handler = peer.route(req)
        if handler is None:
            if peer.serves_est:
                return await super()._answer(request, body)
            handler = _not_found
        received = time.time()
        reply = await asyncio.to_thread(run_handler, handler, req)
        peer.record(
            Exchange(
                op=req.path.rsplit("/", 1)[-1],
                method=method,
                path=target,
                request_headers=headers,
                request_body=body,
                status=reply.status,
                response_headers=list(reply.headers),
                time=received,
                client_subject=subject_of(self.peer_cert),
                basic_user=None,
                tls_version=self.tls_version,
                note=reply.note,
            )
        )
        await self._send(reply)
        return True


def _not_found(request: BrskiRequest) -> OpReply:
    return text_reply(404, f"{request.path} is not served here")
