"""Wi-Fi Easy Connect (DPP): codec, crypto, tester peers and mutants."""
