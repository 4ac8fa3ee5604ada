"""Imports every module that declares tables, so ``create_all`` and Alembic see them all.

Add one import line per table module.
"""
