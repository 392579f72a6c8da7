"""The shop's orders from checkout to refunds: one state machine whose every step asks the points engine."""
