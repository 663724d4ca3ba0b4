"""The WSGI application gunicorn serves (docs/operations.md).

Once the application is loaded, everything it holds (the modules, the URLconf, the middleware, the
apps' registries) lives as long as the worker: `gc.freeze()` moves those objects out of the cyclic
collector's sight. A worker's full collections then no longer walk the ~275,000 objects loaded at
start (measured: 170 ms each before, 58 ms after, two in 1,800 requests), and the collections it still
makes look mostly at what requests leave behind (issue 13, docs/performance.md "Web CPU, fifth pass").
Python's advice for long-lived processes. The price: a frozen object that later becomes part of an
unreachable cycle is never collected; what is loaded at start stays for the worker's life anyway.
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tessera.settings")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018  (the URLconf imported now, so that it is frozen with the rest)
gc.collect()
gc.freeze()
