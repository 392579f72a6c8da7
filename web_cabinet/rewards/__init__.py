"""The rewards shop's pages: the marketing staff's catalog editor (``staff``) under ``/staff/rewards``."""
