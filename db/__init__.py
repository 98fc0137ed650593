"""Persistence: tables, repositories, the unit of work and the Postgres event bus."""
