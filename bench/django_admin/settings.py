"""Django 5.2 admin over the console's tables, for bench/run.py (bench-only; bench/requirements.txt).

The console's database is ``default`` (``DATABASE_URL``: a SQLite file or PostgreSQL), read through
unmanaged models; Django's own tables (users, sessions, content types, admin log) live in a small
separate SQLite file (``DJANGO_AUTH_DB``) through the ``auth`` alias, so nothing collides.
"""
import os
import urllib.parse


def _database(url):
    if url.startswith("sqlite"):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url.split("sqlite:///", 1)[1]}
    parts = urllib.parse.urlparse(url)
    return {"ENGINE": "django.db.backends.postgresql", "NAME": parts.path.lstrip("/"), "USER": parts.username or "",
            "PASSWORD": parts.password or "", "HOST": parts.hostname or "", "PORT": str(parts.port or "")}


SECRET_KEY = "bench-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "bench.django_admin",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "bench.django_admin.urls"
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates",
    "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request",
        "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
DATABASES = {
    "default": _database(os.environ.get("DATABASE_URL", "sqlite:///bench/data/scale-1.db")),
    "auth": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DJANGO_AUTH_DB", "django-auth.db")},
}
DATABASE_ROUTERS = ["bench.django_admin.routers.AuthRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LANGUAGE_CODE = "zh-hans"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = False
STATIC_URL = "/static/"
