"""The HTTP API (FastAPI). Routers are thin: they authenticate, authorise and call the services."""
