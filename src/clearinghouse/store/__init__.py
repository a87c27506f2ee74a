"""Persistence: SQLAlchemy 2 over SQLite (embedded default, WAL) or PostgreSQL, schema managed by Alembic."""
