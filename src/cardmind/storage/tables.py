"""Imports every module that declares tables, so ``create_all`` and Alembic see them all.

Add one import line per table module.
"""
import cardmind.storage.api_keys  # noqa: F401  (HTTP API keys, cardmind.api.security)
