"""Owns duplicate-card merges, legacy program consolidation and drift against 1C (so far: ``compare``)."""
