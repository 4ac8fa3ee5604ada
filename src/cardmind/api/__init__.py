"""The HTTP API: a thin, OpenAPI-documented layer over decisions and storage.

``create_app()`` builds the FastAPI application; ``cardmind serve`` runs it with uvicorn.
"""

from cardmind.api.app import create_app

__all__ = ["create_app"]
