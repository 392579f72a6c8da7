"""Declarative maps between 1C objects and the hub model; phone, name, date and reference normalization."""
