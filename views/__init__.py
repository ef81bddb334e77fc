"""Screens: the generated registry, the shared base view and the custom pages."""
