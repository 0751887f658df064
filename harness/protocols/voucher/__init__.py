"""Vouchers (RFC 8366), voucher-requests (RFC 8995) and constrained vouchers (cBRSKI)."""
