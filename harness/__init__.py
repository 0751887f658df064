"""onboardcheck: conformance harness for the initial security setup of IoT devices."""

__version__ = "0.1.0"
