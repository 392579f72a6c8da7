"""Duplicate-card merges and unmerges, legacy program consolidation, and balance drift against 1C."""
