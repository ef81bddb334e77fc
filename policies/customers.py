"""Rules of the customers area (see DOMAIN.md)."""
