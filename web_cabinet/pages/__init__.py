"""The cabinet's pages, one module per part of the customer's way: login, cards, profile, home."""
