"""The rewards shop's domain: catalog and gating, the cart's suggestion, orders paid through the ledger."""
