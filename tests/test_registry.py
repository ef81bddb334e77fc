"""The registry: adding a record type needs only a class and its MODELS entry; options are checked."""
from peewee import CharField
from peewee import IntegerField

import models
from app import create_app
from conftest import TEST_CONFIG
from conftest import login
from conftest import make_user
from conftest import submit
from views.registry import CATEGORIES
from views.registry import ScreenOptionError
from views.registry import check_options
from views.registry import check_schema
from views.registry import screen_models


class Memo(models.BaseModel):
    """A record type that exists only in this test."""

    subject = CharField(verbose_name="主题")
    priority = IntegerField(default=1, verbose_name="优先级")

    class Meta:
        admin = dict(label="备忘录", category="客户", list=("subject", "priority"), search=("subject",),
                     filters=("priority",))


def test_every_screen_option_names_a_real_field():
    for model in screen_models():
        assert check_options(model) == [], model
    check_schema()


def test_a_bad_option_is_caught_at_startup():
    class Broken(models.BaseModel):
        title = CharField(verbose_name="标题")

        class Meta:
            admin = dict(label="坏配置", category="客户", list=("title", "no_such_column"),
                         search=("customer.name",), filters=("nope",))

    problems = check_options(Broken)
    assert any("no_such_column" in p for p in problems)
    assert any("customer.name" in p for p in problems)
    assert any("nope" in p for p in problems)
    try:
        check_schema(models.MODELS + (Broken,))
    except ScreenOptionError as exc:
        assert "no_such_column" in str(exc)
    else:
        raise AssertionError("check_schema accepted an unknown column")


def test_categories_are_the_chinese_menu():
    assert {m.admin_options()["category"] for m in screen_models()} == set(CATEGORIES)


def test_an_extra_model_gets_a_working_screen(tmp_path):
    app = create_app(dict(TEST_CONFIG, INSTANCE_PATH=str(tmp_path), SCHEMA=models.MODELS + (Memo,)))
    try:
        client = app.test_client()
        with app.app_context():
            make_user("boss")
        login(client, "boss")
        listing = client.get("/admin/memo/")
        assert listing.status_code == 200
        assert "主题" in listing.get_data(as_text=True) and "备忘录" in listing.get_data(as_text=True)
        response = submit(client, "/admin/memo/new/", {"subject": "月底盘点", "priority": "2"})
        assert response.status_code == 302
        assert Memo.get(Memo.subject == "月底盘点").priority == 2
        assert "月底盘点" in client.get("/admin/memo/?search=盘点").get_data(as_text=True)
    finally:
        models.db.close()
