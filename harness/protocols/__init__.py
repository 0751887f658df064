"""Protocol families: one package per protocol (codec, tester peers, mutants)."""
