"""The emulator's standard OData interface (v3): URL and query parsing, JSON, $metadata, errors."""
