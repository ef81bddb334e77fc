"""Which record types of the schema have a screen, and in what menu order (below the registry and its pages)."""
import models

# Menu order of the categories; a record type names its category in ``Meta.admin``.
CATEGORIES = ("客户", "档案", "投诉", "销售与授信", "服务与接待", "组织与系统")


def screen_models(schema=None):
    """Return the record types of ``schema`` that have a screen, in menu order."""
    schema = models.MODELS if schema is None else schema
    with_screen = [m for m in schema if hasattr(m, "admin_options") and m.admin_options().get("label")]
    order = {name: i for i, name in enumerate(CATEGORIES)}
    return sorted(with_screen, key=lambda m: order.get(m.admin_options().get("category"), len(order)))
