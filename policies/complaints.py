"""Rules of the complaints area (see DOMAIN.md)."""
