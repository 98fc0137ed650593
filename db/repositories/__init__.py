"""Repositories, one per aggregate, each scoped by the caller's companies."""
