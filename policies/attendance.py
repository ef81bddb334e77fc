"""Rules of the attendance area (see DOMAIN.md)."""
