"""Imports every module that declares tables, so ``create_all`` and Alembic see them all.

Add one import line per table module.
"""
import cardmind.storage.api_keys  # noqa: F401  (HTTP API keys, cardmind.api.security)
import cardmind.storage.decision_log  # noqa: F401  (decision log, temp-credit grants, labels)
import cardmind.storage.lists  # noqa: F401  (block/trust lists)
import cardmind.storage.applications  # noqa: F401  (application decision log, cardmind.decisions.origination)
