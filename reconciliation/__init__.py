"""Duplicate-card merges, legacy program consolidation, and balance drift against 1C."""
