"""Two-way sync with 1C: the outbox relay, the inbox, and the workers that drain both in order."""
