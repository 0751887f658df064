"""Capture and decoding of a test case's traffic, and the packet cursor over it.

``CaptureSession`` captures live with dumpcap when it may, else records through a
TCP relay and writes the transcript as pcapng; ``decode`` turns a capture into
``Frame``s with tshark (decrypting TLS with the key log); ``PacketCursor`` walks
the frames to decide verdicts.
"""

from harness.capture.cursor import PacketCursor
from harness.capture.decode import decode
from harness.capture.frame import Frame
from harness.capture.live import capture_available
from harness.capture.session import CaptureResult, CaptureSession

__all__ = [
    "CaptureResult",
    "CaptureSession",
    "Frame",
    "PacketCursor",
    "capture_available",
    "decode",
]
