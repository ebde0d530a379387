"""The API: HTTP/JSON on a Unix socket, its routes, pictures, events and self-description."""
