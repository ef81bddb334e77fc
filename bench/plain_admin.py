"""A default Flask-Admin over the same tables, for comparison: ``gunicorn 'bench.plain_admin:create_app()'``.

No login, no row-level secrecy, no badges: Flask-Admin's peewee ModelView as it comes, with the
customer list's search declared the usual way.
"""
import os

from flask import Flask
from flask_admin import Admin
from flask_babel import Babel
from flask_admin.contrib.peewee import ModelView

import models
from app import open_database


class CustomerView(ModelView):
    column_list = ("code", "name", "tier", "grade", "stage", "region", "owner", "department", "last_contact_at")
    column_searchable_list = ("name",)
    # A default peewee ModelView cannot filter on a foreign key ("Unsupported filter type").
    page_size = 50


class CommunicationView(ModelView):
    column_list = ("at", "customer", "channel", "by", "summary")
    page_size = 50


def create_app():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "plain"
    Babel(app)  # Flask-Admin translates through Flask-Babel when it is installed
    models.db.initialize(open_database(os.environ["DATABASE_URL"], pool=False))
    admin = Admin(app, name="plain")
    admin.add_view(CustomerView(models.Customer, endpoint="customer"))
    admin.add_view(CommunicationView(models.Communication, endpoint="communication"))

    @app.before_request
    def _connect():
        models.db.connect(reuse_if_open=True)

    @app.teardown_request
    def _close(exc):
        if not models.db.is_closed():
            models.db.close()

    return app
