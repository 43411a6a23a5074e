"""Serving the HTTP service under gunicorn: the WSGI entry point and the gunicorn hooks."""
