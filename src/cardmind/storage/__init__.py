"""Storage: SQLAlchemy tables and repositories (SQLite file by default, PostgreSQL by setting).

Each area owns its tables in its own module here, declared on :class:`Base`.
"""
