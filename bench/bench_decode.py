"""Decode benchmark: pyshark FileCapture against harness.capture.decode (tshark JSON).

Makes one capture of a few hundred HTTP exchanges over TLS on loopback (live when
dumpcap may capture, else through the recording relay), then decodes it, with the
TLS key log, (a) with pyshark and (b) with ``decode``, in this one process. Wall
time and Python peak memory (tracemalloc) of each; results to
bench/results/decode.json.

    python bench/bench_decode.py [--exchanges 300]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import http.client
import http.server
import ipaddress
import json
import ssl
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from harness.capture import CaptureSession, decode  # noqa: E402

PER_CONNECTION = 10  # keep-alive requests per TLS connection


def _tls_files(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_pem, key_pem = tmp / "cert.pem", tmp / "key.pem"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert_pem, key_pem


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply = json.dumps({"received": len(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


def make_capture(tmp: Path, exchanges: int) -> tuple[Path, Path, int, str]:
    cert_pem, key_pem = _tls_files(tmp)
    keylog = tmp / "tls.keylog"
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_pem, key_pem)
    ctx.set_alpn_protocols(["http/1.1"])
    ctx.keylog_filename = str(keylog)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    server_port = httpd.server_address[1]
    session = CaptureSession(tmp, name="bench", ports=[server_port])
    session.start()
    try:
        port = session.relay(("127.0.0.1", server_port))
        client_ctx = ssl.create_default_context(cafile=str(cert_pem))
        client_ctx.set_alpn_protocols(["http/1.1"])
        done = 0
        while done < exchanges:
            conn = http.client.HTTPSConnection("127.0.0.1", port, context=client_ctx)
            for _ in range(min(PER_CONNECTION, exchanges - done)):
                conn.request("POST", f"/item/{done}", body=json.dumps({"n": done}).encode(),
                             headers={"Content-Type": "application/json"})
                conn.getresponse().read()
                done += 1
            conn.close()
    finally:
        result = session.stop()
        httpd.shutdown()
        httpd.server_close()
    return result.pcap, keylog, port, result.mode


def measure(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    gc.collect()
    tracemalloc.start()
    start = time.perf_counter()
    value = fn()
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return value, elapsed, peak


def with_pyshark(pcap: Path, keylog: Path, port: int) -> int:
    import pyshark

    cap = pyshark.FileCapture(str(pcap), override_prefs={"tls.keylog_file": str(keylog)},
                              decode_as={f"tcp.port=={port}": "tls"})
    methods = 0
    try:
        packets = []
        for packet in cap:
            packets.append(packet)  # keep them, as decode() keeps its frames
            if "HTTP" in packet and hasattr(packet.http, "request_method"):
                methods += 1
    finally:
        cap.close()
    return methods


def with_decode(pcap: Path, keylog: Path, port: int) -> int:
    frames = decode(pcap, keylog=keylog, tls_ports=[port])
    return sum(1 for f in frames if f.get("http.request.method"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exchanges", type=int, default=300)
    args = parser.parse_args()
    exchanges = max(1, min(args.exchanges, 2000))  # bounded: 2 cores, loopback
    with tempfile.TemporaryDirectory(prefix="onboardcheck-bench-") as tmpdir:
        tmp = Path(tmpdir)
        pcap, keylog, port, mode = make_capture(tmp, exchanges)
        frames = len(decode(pcap))
        (a_count, a_time, a_peak) = measure(lambda: with_pyshark(pcap, keylog, port))
        (b_count, b_time, b_peak) = measure(lambda: with_decode(pcap, keylog, port))
    results = {
        "capture": {"mode": mode, "exchanges": exchanges, "frames": frames},
        "pyshark_filecapture": {"seconds": round(a_time, 3), "peak_bytes": a_peak,
                                "http_requests": a_count},
        "tshark_json_decode": {"seconds": round(b_time, 3), "peak_bytes": b_peak,
                               "http_requests": b_count},
        "ratio_b_over_a": {"time": round(b_time / a_time, 3),
                           "peak_memory": round(b_peak / a_peak, 3)},
        "memory_measure": "tracemalloc peak of Python allocations in this process",
    }
    out = ROOT / "bench" / "results" / "decode.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if a_count != exchanges or b_count != exchanges:
        print(f"warning: expected {exchanges} decrypted requests", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
