"""Secure Zero Touch Provisioning (RFC 8572): codec, reference bootstrap server, device peer."""
