"""The customers' personal cabinet pages and the shop's JSON API."""
