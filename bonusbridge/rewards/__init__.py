"""The rewards shop's domain: catalog and gating, the cart's exact suggestion, orders paid through
the ledger's holds."""
