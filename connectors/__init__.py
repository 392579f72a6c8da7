"""Adapters to the outside world, one subpackage per system, plus the outbox/inbox sync that drives them."""
