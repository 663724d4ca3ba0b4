"""What gunicorn serves for bench/floor.py: `/wsgi` answered by a bare WSGI function (gunicorn's own
cost per request), everything else by the Django application; loaded and frozen as Tessera's wsgi.py."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.floorapp.settings")
django_application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018


def application(environ, start_response):  # type: ignore[no-untyped-def]
    if environ["PATH_INFO"] == "/wsgi":
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "11")])
        return [b'{"ok":true}']
    return django_application(environ, start_response)


gc.collect()
gc.freeze()
