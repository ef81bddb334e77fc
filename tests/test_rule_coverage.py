"""Every rule of DOMAIN.md has a boundary test and a sequence test (issue 9), proved by the tests' marks.

A test says what it proves with ``@pytest.mark.rule("ARC-2", "boundary")`` (a value at the rule's limit, each
side) or ``@pytest.mark.rule("ARC-2", "sequence")`` (an edit, delete or back-dated entry after the fact, approve
then change, reject then resubmit, a year or month end). The marks are read from the test files' syntax trees:
no test is run or collected again.
"""
import ast
import os
import re

TESTS = os.path.dirname(os.path.abspath(__file__))
DOMAIN = os.path.join(os.path.dirname(os.path.dirname(TESTS)), "shared", "DOMAIN.md")
KINDS = ("boundary", "sequence")


def domain_rule_ids():
    """Return the rule ids of DOMAIN.md's rule tables."""
    with open(DOMAIN, encoding="utf-8") as fh:
        return {m.group(1) for m in re.finditer(r"^\| ([A-Z]+-\d+) \|", fh.read(), re.M)}


def _dotted(node):
    """Return the dotted name of an attribute chain (``pytest.mark.rule``), else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _test_files():
    for dirpath, _dirs, files in os.walk(TESTS):
        for name in sorted(files):
            if name.startswith("test_") and name.endswith(".py"):
                yield os.path.join(dirpath, name)


def rule_marks():
    """Return [(file, function, args)] for every ``@pytest.mark.rule(...)`` decorator in the test files."""
    found = []
    for path in _test_files():
        with open(path, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), path)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                target = call.func if call is not None else decorator
                if _dotted(target) != "pytest.mark.rule":
                    continue
                args = [ast.literal_eval(a) for a in call.args] if call is not None else []
                found.append((os.path.relpath(path, TESTS), node.name, args))
    return found


def test_every_mark_names_a_rule_of_domain_md_and_a_kind():
    ids = domain_rule_ids()
    marks = rule_marks()
    assert marks, "no @pytest.mark.rule marks found"
    bad = [(path, name, args) for path, name, args in marks
           if len(args) != 2 or args[0] not in ids or args[1] not in KINDS
           or not (name.startswith("test") or name.startswith("Test"))]
    assert bad == [], "marks must read @pytest.mark.rule(<DOMAIN.md rule id>, 'boundary'|'sequence') on a test"


def test_every_rule_has_a_boundary_test_and_a_sequence_test():
    ids = domain_rule_ids()
    assert len(ids) == 54
    have = {(args[0], args[1]) for _path, _name, args in rule_marks() if len(args) == 2}
    missing = sorted(f"{rule_id} {kind}" for rule_id in ids for kind in KINDS if (rule_id, kind) not in have)
    assert missing == [], f"rules without a marked test of that kind: {missing}"


def test_the_mark_is_registered(pytestconfig):
    assert any(line.startswith("rule(") for line in pytestconfig.getini("markers"))
