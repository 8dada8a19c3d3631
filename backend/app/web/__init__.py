"""The dashboard: server-rendered pages (Jinja2 + htmx, assets vendored, no CDN) over the API's own functions.

Every action a page offers calls the same function as the API route that does it (same validation, same
permission, same audit record), so anything a user does here can be done over the API and the CLI too.
"""
