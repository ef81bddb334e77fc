"""Django's own apps use the ``auth`` database; the console's tables (unmanaged) the ``default`` one."""
DJANGO_APPS = {"auth", "contenttypes", "sessions", "admin", "messages"}


class AuthRouter:
    def db_for_read(self, model, **hints):
        return "auth" if model._meta.app_label in DJANGO_APPS else "default"

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "auth" and app_label in DJANGO_APPS
