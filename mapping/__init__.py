"""Declarative maps between 1C objects and the hub's model, and phone, name, date and reference normalization."""
