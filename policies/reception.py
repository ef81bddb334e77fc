"""Rules of the reception area (see DOMAIN.md)."""
