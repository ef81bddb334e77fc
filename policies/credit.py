"""Rules of the credit area (see DOMAIN.md)."""
