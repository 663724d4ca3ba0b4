from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from tessera.api import api
from tessera.backoffice import home

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/tessera/marketing/", include("tessera.marketing.urls")),
    path("admin/tessera/imports/", include("tessera.imports.urls")),
    path("admin/tessera/reports/", include("tessera.reports.urls")),
    path("admin/tessera/", include("tessera.backoffice.urls")),
    # The admin home is each role's home page: the till for a cashier (issue 14); then the admin's own.
    path("admin/", admin.site.admin_view(home.index)),
    path("admin/", admin.site.urls),
    path("staff/", include("tessera.backoffice.scanner_urls")),
    path("m/", include("tessera.portal.urls")),
    path("hooks/messaging/", include("tessera.marketing.hook_urls")),
    path("hooks/", include("tessera.integrations.urls")),
    path("api/v1/", api.urls),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
