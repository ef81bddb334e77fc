"""Rules of the qc area (see DOMAIN.md)."""
