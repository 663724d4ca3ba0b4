"""Settings, read from the environment.

Defaults make `make run` work on a fresh machine (SQLite, embedded huey); production sets
TESSERA_ENV=production, which turns on every safety that a demo would find in the way.
"""

from __future__ import annotations

import os
from pathlib import Path

import csp.constants
import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("TESSERA_VAR_DIR", Path.cwd() / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


PRODUCTION = os.environ.get("TESSERA_ENV", "production") == "production"
DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when TESSERA_ENV=production.")
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "unfold.contrib.forms",
    "unfold.contrib.simple_history",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "simple_history",
    "phonenumber_field",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "huey.contrib.djhuey",
    "ninja",  # the API docs page from our static files: no CDN, no inline script
    "tessera.core",
    "tessera.tenancy",
    "tessera.members",
    "tessera.ledger",
    "tessera.points",
    "tessera.cards",
    "tessera.sales",
    "tessera.rules",
    "tessera.tiers",
    "tessera.adjustments",
    "tessera.rewards",
    "tessera.integrations",
    "tessera.marketing",
    "tessera.imports",
    "tessera.reports",
    "tessera.portal",
    "tessera.backoffice",
]

MIDDLEWARE = [
    "tessera.core.middleware.NoHealthCheckForApi",  # no SELECT 1 before an API request (issue 13)
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",  # X-Frame-Options on the API's answers too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tessera.core.security.ContentSecurityPolicyMiddleware",  # the Content-Security-Policy of each answer
    "django.middleware.locale.LocaleMiddleware",
    # problem+json for every answer under /api/v1/ and /hooks/ (404, 405, 413, 500 included).
    "tessera.core.middleware.ProblemMiddleware",
    "tessera.core.textguard.ControlCharacterMiddleware",  # no control characters in (issue 12)
    "django.middleware.common.CommonMiddleware",
    # Requests under /api/v1/ go from here to their view; what follows serves people's pages (issue 13).
    "tessera.core.middleware.ApiShortcut",
    # The member portal's own session under /m/.
    "tessera.core.security.SessionMiddleware",
    "tessera.core.middleware.CsrfForPeople",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "tessera.core.security.StaffIdleTimeoutMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "tessera.tenancy.middleware.StaffLocaleMiddleware",
    "tessera.tenancy.middleware.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    "tessera.core.middleware.ViewReached",  # the end of the list (see ApiShortcut)
]

ROOT_URLCONF = "tessera.urls"
WSGI_APPLICATION = "tessera.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tessera.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the huey worker and the web server share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Parameters travel apart from the statement (psycopg's own cursor, not Django's client-side
    # quoting), and a statement a connection runs often is prepared on the server after its fifth run
    # (psycopg's `prepare_threshold`): less CPU per request in the web process and in PostgreSQL
    # (issue 13, docs/performance.md). Behind PgBouncer in transaction mode older than 1.21, set
    # DB_PREPARE_THRESHOLD=off (docs/operations.md).
    threshold = os.environ.get("DB_PREPARE_THRESHOLD", "5")
    DATABASES["default"]["OPTIONS"] = {
        **DATABASES["default"].get("OPTIONS", {}),
        "server_side_binding": True,
        "prepare_threshold": None if threshold.lower() == "off" else int(threshold),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# B4: five failed logins for the same user name from the same address lock it for 15 minutes.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "0.25"))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "tenancy/locked_out.html"
AXES_VERBOSE = False
# Issue 12: many user names from one address are stopped too, at a far higher threshold (a shop's tills
# share one address), and the address is the client's behind TRUSTED_PROXY_COUNT reverse proxies
# (0: REMOTE_ADDR, X-Forwarded-For ignored). See tessera/tenancy/lockout.py and docs/operations.md.
AXES_HANDLER = "tessera.tenancy.lockout.StaffLoginHandler"
AXES_CLIENT_IP_CALLABLE = "tessera.tenancy.lockout.client_ip"
LOGIN_FAILURE_LIMIT_PER_ADDRESS = int(os.environ.get("LOGIN_FAILURE_LIMIT_PER_ADDRESS", "50"))
TRUSTED_PROXY_COUNT = int(os.environ.get("TESSERA_TRUSTED_PROXY_COUNT", "0"))

# Issue 12: an .xlsx is a zip of XML; what it may unpack to is capped before it is read
# (docs/imports.md). The shared strings are held in memory whole by the worker reading the file.
IMPORT_MAX_UNPACKED_BYTES = int(os.environ.get("TESSERA_IMPORT_MAX_UNPACKED_MB", "1024")) * 2**20
IMPORT_MAX_SHARED_STRINGS_BYTES = int(os.environ.get("TESSERA_IMPORT_MAX_SHARED_STRINGS_MB", "128")) * 2**20

# B4: staff two-factor login (TOTP apps, recovery codes) through django-otp; see tessera.tenancy.two_factor.
# Each wrong code doubles the wait before the next try (1 s, 2 s, 4 s…), and counts as an axes failure.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Tessera")
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

LANGUAGE_CODE = "en"
LANGUAGES = [("vi", _("Vietnamese")), ("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
# The project's catalogue, then the admin framework's own strings in vi and zh-Hans (unfold ships none).
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "framework_locale"]
FORMAT_MODULE_PATH = ["tessera.formats"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

PHONENUMBER_DEFAULT_REGION = os.environ.get("PHONENUMBER_DEFAULT_REGION", "VN")
PHONENUMBER_DB_FORMAT = "E164"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    # Issue 16: export files hold personal data; they live outside MEDIA_ROOT, with no address of
    # their own, and are read only through the signed download view (tessera.core.export_jobs).
    "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "exports"), "base_url": None},
    },
}
#: Excel and PDF of lists longer than this are built by a background job; shorter ones download at once.
EXPORT_INLINE_ROWS = int(os.environ.get("TESSERA_EXPORT_INLINE_ROWS", "5000"))
#: How long an export file is kept for its requester before it is purged.
EXPORT_RETENTION_DAYS = int(os.environ.get("TESSERA_EXPORT_RETENTION_DAYS", "7"))
#: How long a download link (signed) stays good; the exports page gives a fresh one each time.
EXPORT_LINK_MAX_AGE = int(os.environ.get("TESSERA_EXPORT_LINK_MAX_AGE", "3600"))

LOGIN_URL = "admin:login"
# Unfold's login form has no `next` field: a login from the bare login page must land on the dashboard.
LOGIN_REDIRECT_URL = "admin:index"

# Cookies and headers: secure unless this is a local demo over plain HTTP.
SECURE_COOKIES = env_bool("SECURE_COOKIES", default=PRODUCTION)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SECURE_COOKIES
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Issue 12: a staff session ends after this many minutes without a request; the member portal keeps its
# own session in its own cookie (path /m/), signed in for this many days (tessera.core.security).
TESSERA_STAFF_IDLE_MINUTES = int(os.environ.get("TESSERA_STAFF_IDLE_MINUTES", "30"))
SESSION_COOKIE_AGE = TESSERA_STAFF_IDLE_MINUTES * 60
TESSERA_PORTAL_SESSION_COOKIE_NAME = "tessera_member"
TESSERA_PORTAL_SESSION_DAYS = int(os.environ.get("TESSERA_PORTAL_SESSION_DAYS", "14"))
# The API's HTML docs page (/api/v1/docs); /api/v1/openapi.json is always served.
TESSERA_API_DOCS_ENABLED = env_bool("TESSERA_API_DOCS_ENABLED", default=not PRODUCTION)

# Content-Security-Policy (django-csp) of every page: scripts and styles from this site or carrying the
# page's nonce, no eval, no plugins, no framing. The back office relaxes what its admin framework needs
# (tessera.core.security.BACK_OFFICE_POLICY).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", csp.constants.NONCE],
        "style-src": ["'self'", csp.constants.NONCE],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "tessera@localhost")

# SMS: "console" (logs), "file" (VAR_DIR/sms.log) or the dotted path of a provider backend class.
SMS_BACKEND = os.environ.get("SMS_BACKEND", "console")
# Marketing (I1–I4): the public address of this installation, for unsubscribe links in emails.
TESSERA_PUBLIC_URL = os.environ.get("TESSERA_PUBLIC_URL", "http://localhost:8000")
# Merchant-given addresses (SMS providers, webhooks) may be loopback and plain http: only for a fake
# provider or receiver on 127.0.0.1 in tests and demos, never in production (tessera.core.outbound).
TESSERA_OUTBOUND_ALLOW_LOOPBACK = not PRODUCTION and env_bool("TESSERA_OUTBOUND_ALLOW_LOOPBACK")
# Idempotency records are kept this many days, then purged (a retry after that is a new request).
IDEMPOTENCY_RETENTION_DAYS = int(os.environ.get("IDEMPOTENCY_RETENTION_DAYS", "7"))
# A sale left pending (not confirmed) this long is voided and its holds released.
SALES_PENDING_TIMEOUT_MINUTES = int(os.environ.get("SALES_PENDING_TIMEOUT_MINUTES", "30"))
# Members are warned this many days before their points expire (E10).
TESSERA_EXPIRY_NOTICE_DAYS = int(os.environ.get("TESSERA_EXPIRY_NOTICE_DAYS", "14"))

# Caches. `config`: each merchant's point-of-sale configuration under its version (tenancy.config);
# local memory per process, or Redis when REDIS_URL is set, so that every worker fills it once.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "config": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}
        if os.environ.get("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tessera-config"}
    ),
}

# huey: Redis when REDIS_URL is set (several machines), else an embedded SQLite queue.
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY_IMMEDIATE = env_bool("HUEY_IMMEDIATE", default=False)
if REDIS_URL:
    HUEY = {"huey_class": "huey.RedisHuey", "name": "tessera", "url": REDIS_URL, "immediate": HUEY_IMMEDIATE}
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "tessera",
        "filename": str(VAR_DIR / "huey.sqlite3"),
        "immediate": HUEY_IMMEDIATE,
    }
HUEY["consumer"] = {"workers": int(os.environ.get("HUEY_WORKERS", "2")), "worker_type": "thread"}

# Issue 17: API rate limits, <count>/<second|minute|hour|day> per key of each scope (a `:read` scope
# shares its full scope's), `operator` per operator key, `anonymous` per client address for requests
# without a valid key. Counted in Redis when REDIS_URL is set (the limit holds across workers and
# machines), else in each process (tessera.core.ratelimit, docs/security.md). Override in the
# environment: TESSERA_RATE_LIMITS="pos=1200/minute,anonymous=30/minute".
# A store's `pos` key serves all of its tills: its limit stops a till or an integration stuck in a loop,
# never a busy store (posprobe drives one key at some hundreds of requests a second).
TESSERA_RATE_LIMITS = {
    "pos": "60000/minute",
    "integration": "60000/minute",
    "admin": "6000/minute",
    "operator": "600/minute",
    "anonymous": "60/minute",
}
TESSERA_RATE_LIMITS.update(
    (name.strip(), rate.strip())
    for name, _sep, rate in (
        item.partition("=") for item in os.environ.get("TESSERA_RATE_LIMITS", "").split(",")
    )
    if rate.strip()
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

from tessera.unfold_conf import UNFOLD  # noqa: E402, F401  (kept apart: it is long and only UI)
