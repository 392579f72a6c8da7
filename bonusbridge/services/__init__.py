"""The hub's service layer for customers and cards: profile edits, card binding, primary choice, blocking."""
