"""``gunicorn bench.django_admin.wsgi:application`` (DATABASE_URL, DJANGO_AUTH_DB)."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.django_admin.settings")
application = get_wsgi_application()
