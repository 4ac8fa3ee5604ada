"""cardmind: the AI brain of a credit-card issuer.

Data flows one way: simulate/ingest -> events -> features -> models -> decisions -> api.
See README.md and docs/adr/ for the design.
"""

__version__ = "0.1.0"
