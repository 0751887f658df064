"""Cryptographic helpers of the harness: the PKI factory (harness.crypto.pki)."""
