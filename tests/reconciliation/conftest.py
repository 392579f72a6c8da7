"""The sync harness (one hub + one emulated 1C, synced in-process) for the drift and merge tests."""

from tests.sync.conftest import harness

__all__ = ["harness"]
