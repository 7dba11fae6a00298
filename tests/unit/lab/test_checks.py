"""Check names are written once, in lab/scenarios/<name>/checks.py: the
scenario's dom0.py records them and tests/lab asks for them (no lab boot)."""

from __future__ import annotations

import ast
import functools
import inspect
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from lab.host import job, runner
from lab.host.errors import ConfigError

TESTS_LAB = Path(__file__).resolve().parents[2] / "lab"
CLEANUP = job.DOM0 / "labguest" / "cleanup.py"
# Long enough to be a check's own words, not a common phrase.
FRAGMENT = 20


@functools.cache
def dom0_tree(name: str) -> ast.Module:
    return ast.parse((job.SCENARIOS / name / "dom0.py").read_text())


def check_calls(tree: ast.AST) -> list[ast.Call]:
    """Every ``s.check(...)`` in ``tree``."""
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute) and n.func.attr == "check"
            and isinstance(n.func.value, ast.Name) and n.func.value.id == "s"]


def calls_dom0_clean(tree: ast.AST) -> bool:
    """Whether ``tree`` calls ``lab.check_dom0_clean``, which records checks of its own."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "check_dom0_clean" for n in ast.walk(tree))


def records_checks(name: str) -> bool:
    tree = dom0_tree(name)
    return bool(check_calls(tree)) or calls_dom0_clean(tree)


SCENARIOS = [n for n in job.available() if records_checks(n)]


def names(c: types.ModuleType) -> dict[str, object]:
    """The check names of a checks module: its upper-case str constants and
    its functions (parametrised names), by attribute name."""
    return {k: v for k, v in vars(c).items()
            if (k.isupper() and isinstance(v, str))
            or (inspect.isfunction(v) and v.__module__ == c.__name__ and not k.startswith("_"))}


def sample(fn: types.FunctionType) -> str:
    """``fn``'s name with stand-ins: ``{param}`` for a str, 7 for an int."""
    args = [7 if p.annotation in (int, "int") else f"{{{p.name}}}"
            for p in inspect.signature(fn).parameters.values()]
    return fn(*args)


def texts(c: types.ModuleType) -> dict[str, str]:
    """Every name's text (functions with stand-in arguments)."""
    return {k: sample(v) if callable(v) else v for k, v in names(c).items()}


def c_attrs(tree: ast.AST, alias: str) -> dict[str, int]:
    """``alias.X`` references in ``tree``: X and its first line."""
    found: dict[str, int] = {}
    for n in ast.walk(tree):
        if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
                and n.value.id == alias):
            found.setdefault(n.attr, n.lineno)
    return found


def is_c_name(node: ast.expr) -> bool:
    """``C.X`` or ``C.f(...)``."""
    if isinstance(node, ast.Call):
        node = node.func
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "C")


def loop_sources(tree: ast.Module, call: ast.Call, var: str) -> list[ast.expr] | None:
    """What a loop variable used as a check's name takes: for ``for a, var,
    b in TABLE`` (TABLE a module-level list or a literal), the middle item
    of each row; None when it is not that simple."""
    loops = [n for n in ast.walk(tree) if isinstance(n, ast.For)
             and any(c is call for c in ast.walk(n))]
    for loop in reversed(loops):  # innermost first
        target = loop.target
        if isinstance(target, ast.Name) and target.id == var:
            index = None
        elif isinstance(target, ast.Tuple) and any(
                isinstance(e, ast.Name) and e.id == var for e in target.elts):
            index = next(i for i, e in enumerate(target.elts)
                         if isinstance(e, ast.Name) and e.id == var)
        else:
            continue
        rows = loop.iter
        if isinstance(rows, ast.Name):
            assigned = [a.value for a in tree.body if isinstance(a, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == rows.id for t in a.targets)]
            if len(assigned) != 1:
                return None
            rows = assigned[0]
        if not isinstance(rows, (ast.List, ast.Tuple)):
            return None
        if index is None:
            return list(rows.elts)
        if not all(isinstance(r, (ast.Tuple, ast.List)) and len(r.elts) > index for r in rows.elts):
            return None
        return [r.elts[index] for r in rows.elts]
    return None


def str_literals(tree: ast.AST) -> list[str]:
    """Every str literal in ``tree``, f-strings' fixed parts included."""
    return [n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def labguest_names() -> set[str]:
    """The names lab.check_dom0_clean records (lab/dom0/labguest/cleanup.py)."""
    tree = ast.parse(CLEANUP.read_text())
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "check_dom0_clean")
    found = set()
    for call in check_calls(fn):
        arg = call.args[0]
        assert isinstance(arg, ast.Constant) and isinstance(arg.value, str), ast.unparse(arg)
        found.add(arg.value)
    return found


@functools.cache
def asked_by_tests() -> dict[str, dict[str, str]]:
    """For each scenario, the names tests/lab asks for (``X = job.checks(
    "name")`` at a test module's top, then ``X.NAME``): name -> where."""
    asked: dict[str, dict[str, str]] = {}
    for path in sorted(TESTS_LAB.glob("test_*.py")):
        tree = ast.parse(path.read_text())
        for stmt in tree.body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name) and isinstance(stmt.value, ast.Call)
                    and isinstance(stmt.value.func, ast.Attribute)
                    and stmt.value.func.attr == "checks" and stmt.value.args
                    and isinstance(stmt.value.args[0], ast.Constant)):
                continue
            scenario = stmt.value.args[0].value
            for attr, line in c_attrs(tree, stmt.targets[0].id).items():
                asked.setdefault(scenario, {}).setdefault(attr, f"{path.name}:{line}")
    return asked


# -- The loader ----------------------------------------------------------------
def test_every_scenario_that_records_checks_has_a_checks_module():
    assert {"ctl", "demo", "dix", "hostile", "hung-domu", "nvme"} <= set(SCENARIOS)
    for name in job.available():
        has = (job.SCENARIOS / name / "checks.py").exists()
        assert has == records_checks(name), name


@pytest.mark.parametrize("name", SCENARIOS)
def test_checks_loads_once_by_path_and_writes_no_bytecode(name):
    c = job.checks(name)
    assert isinstance(c, types.ModuleType)
    assert c.__name__ == f"lab_checks_{name.replace('-', '_')}"
    assert job.checks(name) is c
    assert not (job.SCENARIOS / name / "__pycache__").exists()


def test_a_scenario_without_checks_is_refused():
    with pytest.raises(ConfigError, match="no checks.py"):
        job.checks("hung-dom0")


@pytest.mark.parametrize("name", SCENARIOS)
def test_checks_needs_only_the_standard_library(name):
    """dom0 runs dom0.py as a script, so that the scenario's folder is on
    sys.path, and imports checks.py from there, beside nothing of the repository."""
    tree = ast.parse((job.SCENARIOS / name / "checks.py").read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    assert imported <= set(sys.stdlib_module_names), imported
    folder = job.SCENARIOS / name
    proc = subprocess.run([sys.executable, "-I", "-B", "-c",
                           f"import sys; sys.path.insert(0, {str(folder)!r}); import checks"],
                          cwd="/", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# -- The names themselves ------------------------------------------------------
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_name_is_text_without_surrounding_spaces(name):
    found = texts(job.checks(name))
    assert found
    for attr, text in found.items():
        assert isinstance(text, str) and text, attr
        assert text == text.strip(), attr


@pytest.mark.parametrize("name", SCENARIOS)
def test_no_two_names_have_the_same_text(name):
    seen: dict[str, str] = {}
    for attr, text in texts(job.checks(name)).items():
        assert text not in seen, f"{attr} and {seen[text]}: {text!r}"
        seen[text] = attr


# -- dom0.py records every check by its name in checks.py ----------------------
@pytest.mark.parametrize("name", SCENARIOS)
def test_dom0_imports_checks_as_c(name):
    assert any(isinstance(n, ast.Import) and any(a.name == "checks" and a.asname == "C"
                                                 for a in n.names)
               for n in dom0_tree(name).body)


@pytest.mark.parametrize("name", SCENARIOS)
def test_dom0_names_every_check_from_checks_never_with_a_literal(name):
    tree, c = dom0_tree(name), job.checks(name)
    for attr, line in c_attrs(tree, "C").items():
        assert hasattr(c, attr), f"dom0.py:{line}: checks.py has no {attr}"
    for call in check_calls(tree):
        arg = call.args[0]
        where = f"dom0.py:{call.lineno}: {ast.unparse(arg)}"
        if isinstance(arg, ast.Name):
            rows = loop_sources(tree, call, arg.id)
            assert rows, f"{where}: not a loop over a table of checks.py names"
            for row in rows:
                assert is_c_name(row), f"{where} takes {ast.unparse(row)}, not a checks.py name"
        else:
            assert is_c_name(arg), f"{where}: not a checks.py name (C.NAME or C.name(...))"


@pytest.mark.parametrize("name", SCENARIOS)
def test_dom0_spells_out_no_check_of_its_own(name):
    """No literal in dom0.py repeats a name's text, whole or a long fixed
    part of a parametrised one."""
    literals = str_literals(dom0_tree(name))
    c = job.checks(name)
    for attr, value in names(c).items():
        if callable(value):
            parts = [p.strip() for p in sample(value).replace("{", "\0").replace("}", "\0").split("\0")]
            parts = [p for p in parts if len(p) >= FRAGMENT]
        else:
            parts = [value]
        for part in parts:
            for lit in literals:
                assert part not in lit, f"dom0.py spells out {attr}: {lit!r}"


@pytest.mark.parametrize("name", SCENARIOS)
def test_dom0_records_every_name_of_checks(name):
    tree, c = dom0_tree(name), job.checks(name)
    used = c_attrs(tree, "C")
    from_labguest = set(getattr(c, "EMITTED_BY_LABGUEST", ()))
    for attr, value in names(c).items():
        if value in from_labguest:
            assert calls_dom0_clean(tree), f"{attr}: dom0.py never calls lab.check_dom0_clean"
        else:
            assert attr in used, f"{attr} is never recorded by dom0.py"


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_names_labguest_records_are_spelt_as_labguest_does(name):
    c = job.checks(name)
    emitted = set(getattr(c, "EMITTED_BY_LABGUEST", ()))
    assert emitted == (labguest_names() if calls_dom0_clean(dom0_tree(name)) else set())
    assert emitted <= set(names(c).values())


# -- tests/lab asks for every check by its name in checks.py -------------------
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_name_is_asked_for_by_a_test_or_listed_as_untested(name):
    c = job.checks(name)
    asked = asked_by_tests().get(name, {})
    for attr in asked:
        assert hasattr(c, attr), f"{asked[attr]} asks for {attr}, which checks.py lacks"
    untested = getattr(c, "UNTESTED_BY_NAME", None)
    assert isinstance(untested, tuple), "checks.py has no UNTESTED_BY_NAME tuple"
    public = names(c)
    for entry in untested:
        attr = next((k for k, v in public.items() if v is entry or v == entry), None)
        assert attr is not None, f"UNTESTED_BY_NAME lists {entry!r}, not a name of checks.py"
        assert attr not in asked, f"{attr} is listed as untested, but {asked[attr]} asks for it"
    for attr, value in public.items():
        assert attr in asked or any(value is u or value == u for u in untested), \
            f"no test asks for {attr} and UNTESTED_BY_NAME does not list it"


def test_no_lab_test_spells_out_a_check():
    """tests/lab asks for checks through checks.py, never with a literal."""
    for path in sorted(TESTS_LAB.glob("test_*.py")):
        for call in ast.walk(ast.parse(path.read_text())):
            if not isinstance(call, ast.Call):
                continue
            func = call.func
            asks = ((isinstance(func, ast.Name) and func.id == "passed" and len(call.args) > 1
                     and call.args[1]) or
                    (isinstance(func, ast.Attribute) and func.attr == "check" and call.args
                     and call.args[0]))
            if asks:
                assert not isinstance(asks, (ast.JoinedStr, ast.Constant)), \
                    f"{path.name}:{call.lineno}: {ast.unparse(asks)}"


def test_a_check_the_scenario_never_ran_fails_its_test():
    c = job.checks("dix")
    result = runner.LabResult("dix", "6.1", "6.1.0-0-amd64", {},
                              [{"name": c.DOMU_SEES_XVDB, "ok": True}], Path("."))
    assert result.check(c.DOMU_SEES_XVDB)["ok"]
    with pytest.raises(KeyError, match=re.escape(f"has no check {c.DATA_READS_BACK_IDENTICAL!r}")):
        result.check(c.DATA_READS_BACK_IDENTICAL)
