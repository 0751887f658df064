"""EST (RFC 7030, RFC 8951) and EST-coaps (RFC 9148): codec, tester peers, mutants."""
