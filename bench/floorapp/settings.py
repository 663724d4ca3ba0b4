"""Settings of the floor application: production-like (DEBUG off, persistent connections, parameters
bound on the server and statements prepared after five runs, as Tessera's PostgreSQL settings), the
two middleware every Django site keeps, no others."""

import os

SECRET_KEY = "floor-" + "x" * 50
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["bench.floorapp"]
MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "bench.floorapp.urls"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("FLOOR_DB", "tessera_bench_floor"),
        "HOST": os.environ.get("FLOOR_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("FLOOR_DB_PORT", "5432"),
        "USER": os.environ.get("FLOOR_DB_USER", "postgres"),
        "CONN_MAX_AGE": 600,
        "OPTIONS": {"server_side_binding": True, "prepare_threshold": 5},
    }
}
LOGGING_CONFIG = None
