"""Per-program mapping files of legacy loyalty exports (YAML) and their loader/validator."""
