"""Loads the onboardcheck pytest plugin for the suites (suites/) and the harness's own tests."""

pytest_plugins = ["harness.plugin"]
