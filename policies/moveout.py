"""Rules of the moveout area (see DOMAIN.md)."""
