"""The points engine: versioned program rules and campaigns, and what a basket earns and may spend."""
