"""Imports every module that declares tables, so ``create_all`` and Alembic see them all.

Add one import line per table module.
"""
import cardmind.storage.api_keys
import cardmind.storage.applications
import cardmind.storage.decision_log
import cardmind.storage.lists  # noqa: F401  (block/trust lists)
