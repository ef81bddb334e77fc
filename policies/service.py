"""Rules of the service area (see DOMAIN.md)."""
