"""Virtual media for radios the test network has no wire for (802.11 today).

A medium carries each frame as one UDP datagram between two nodes' radios; what it
carries is recorded as it passes, so the evidence holds the frames with their own link
type (radiotap + 802.11 for Wi-Fi) and Wireshark's dissectors decode them as over the air.
"""

from harness.medium.udp import AirRecorder, UdpRadio

__all__ = ["AirRecorder", "UdpRadio"]
