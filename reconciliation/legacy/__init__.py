"""Owns the legacy-program import: read exports through their mapping files, plan, report, apply."""
