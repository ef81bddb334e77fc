"""Create Django's own tables in the ``auth`` database and a superuser: ``python -m bench.django_admin.setup``."""
import os
import sys

USERNAME = "bench_django"
PASSWORD = "Bench-django-2026"


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.django_admin.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", database="auth", verbosity=0, interactive=False)
    from django.contrib.auth.models import User

    if not User.objects.using("auth").filter(username=USERNAME).exists():
        User.objects.db_manager("auth").create_superuser(USERNAME, "bench@example.com", PASSWORD)
    return 0


if __name__ == "__main__":
    sys.exit(main())
