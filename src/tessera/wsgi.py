"""The WSGI application gunicorn serves (docs/operations.md).

Once the application is loaded, everything it holds (the modules, the URLconf, the middleware, the
apps' registries) lives as long as the worker: `gc.freeze()` moves those objects out of the cyclic
collector's sight. A worker then no longer walks ~275,000 permanent objects in each full collection —
60–170 ms of CPU each, a few times a minute under load — and the collections it still makes look only
at what requests leave behind (issue 13, docs/performance.md "Web CPU, fifth pass"). Python's own advice
for long-lived processes; nothing is collected any less: frozen objects are the ones that never die.
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
