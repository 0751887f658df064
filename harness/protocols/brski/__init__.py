"""BRSKI (RFC 8995): reference pledge, registrar and MASA, each with behaviour knobs.

See docs/brski.md for the roles, the endpoints and what each one checks.
"""
