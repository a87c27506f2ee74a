"""The web interface: server-rendered pages (Jinja2, htmx for partial updates) over the same services and access
policy as the API. `web.app.create_app()` is the API app with the pages mounted under `/`."""
