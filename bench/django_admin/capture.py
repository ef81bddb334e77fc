"""The SQL statements Django's admin sends for some pages, for bench/run.py's floor of Django's admin.

    python -m bench.django_admin.capture /admin/django_admin/customer/ …   (pickled to standard output)

Each page is opened once to warm up, then once more with every statement recorded, on both databases
(``default``: the console's tables, ``auth``: Django's users and sessions), through the same settings as the
gunicorn-served admin. Statements are given ready for the database's own driver: for SQLite, Django's
``%s`` placeholders are turned into ``?`` as its SQLite backend does.
"""
import contextlib
import os
import pickle
import re
import sys

PLACEHOLDER = re.compile(r"(?<!%)%s")


def main(urls):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.django_admin.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import connections
    from django.test import Client

    from bench.django_admin import setup

    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(User.objects.db_manager("auth").get(username=setup.USERNAME))
    found = {}
    for url in urls:
        client.get(url)
        statements = []

        def recorder(alias):
            def record(execute, sql, params, many, context):
                if connections[alias].vendor == "sqlite":
                    text = PLACEHOLDER.sub("?", sql).replace("%%", "%")
                else:
                    text = sql
                statements.append((alias, text, tuple(params or ())))
                return execute(sql, params, many, context)
            return record

        with contextlib.ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(recorder(alias)))
            status = client.get(url).status_code
        found[url] = (status, statements)
    pickle.dump(found, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
