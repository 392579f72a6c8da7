"""The 1C:Enterprise emulator: OData v3, exchange plans, bonus registers and fault injection."""
