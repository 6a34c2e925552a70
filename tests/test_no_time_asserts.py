"""No test asserts a duration: speed is measured in bench/, not in `make test`.

On a busy 2-core machine anything may take a few seconds, so a test that fails after 2 s, or
asserts ``elapsed < 5``, fails for the machine and not for the code. Tests wait for the event
they expect, with the ceiling in tests/waits.py (30 s) that only catches a hang. This reads
every module under tests/ with ``ast`` and reports, with file and line:

- an upper bound on a duration below that ceiling: ``elapsed < 5``, ``5 > took_s``,
  ``latency_ms <= 2000``;
- a deadline on a clock below it: ``time.monotonic() + 5``;
- a Playwright wait or action with ``timeout=`` below it (Playwright counts milliseconds), a
  Playwright ``expect(...)`` assertion without one (its default is 5 s), or a default
  timeout set below it;
- a fixed sleep: ``page.wait_for_timeout(...)``, or ``time.sleep(...)`` outside a polling
  loop;
- a Hypothesis test without ``deadline=None`` (Hypothesis fails an example after 200 ms by
  default);
- a test whose name speaks of seconds or milliseconds.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.waits import HANG_MS, HANG_S

TESTS = Path(__file__).resolve().parent
# identifiers that say an expression is a duration or a clock reading
DURATION_WORDS = re.compile(
    r"elapsed|duration|seconds|(^|_)secs?($|_)|took|latency|delay|timeout|monotonic|perf_counter"
    r"|(^|_)time($|_)|_s$|(^|_)ms$",
    re.IGNORECASE,
)
MILLISECONDS = re.compile(r"(^|_)ms$|millis", re.IGNORECASE)
CLOCKS = {"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns", "time_ns"}
SLEEPS = {"sleep"}
# Playwright calls that wait, with `timeout=` in milliseconds
PLAYWRIGHT_WAITS = {
    "goto", "reload", "go_back", "go_forward", "click", "dblclick", "tap", "fill", "type", "press",
    "check", "uncheck", "set_checked", "hover", "focus", "select_option", "set_input_files",
    "screenshot", "inner_text", "inner_html", "text_content", "get_attribute", "input_value",
    "is_visible", "is_hidden", "evaluate", "dispatch_event", "drag_to", "launch", "new_page",
    "set_content", "scroll_into_view_if_needed",
}
PLAYWRIGHT_DEFAULTS = {"set_default_timeout", "set_default_navigation_timeout"}
# "seconds", not "second" (an ordinal too) nor "minutes" (the domain's time limits are in
# minutes and hours: test_an_urgent_category_must_be_dispatched_within_ten_minutes)
TEST_NAME_TIME = re.compile(r"seconds|(^|_)(ms|secs?)($|_)", re.IGNORECASE)


@dataclass
class _Module:
    path: str
    tree: ast.Module
    constants: dict[str, float] = field(default_factory=dict)
    # module-level names bound to a Hypothesis ``settings(..., deadline=None)`` (or to
    # ``settings(NAME, ...)`` of such a name, not setting another deadline)
    no_deadline: set[str] = field(default_factory=set)


def _number(node: ast.AST | None, constants: dict[str, float]) -> float | None:
    """The value of a numeric literal, a module constant, or arithmetic on them; else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        return float(node.value)
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _number(node.operand, constants)
        return None if value is None else -value
    if isinstance(node, ast.BinOp):
        left, right = _number(node.left, constants), _number(node.right, constants)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.Div) and right:
            return left / right
    return None


def _identifiers(node: ast.AST) -> list[str]:
    return [n.id if isinstance(n, ast.Name) else n.attr
            for n in ast.walk(node) if isinstance(n, ast.Name | ast.Attribute)]


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _keyword(node: ast.Call, name: str) -> ast.keyword | None:
    return next((k for k in node.keywords if k.arg == name), None)


def _modules(sources: dict[str, str]) -> list[_Module]:
    """Parse the sources and resolve module-level numeric constants, also across
    ``from tests.x import NAME``."""
    modules = {name: _Module(name, ast.parse(text)) for name, text in sources.items()}
    own: dict[str, dict[str, float]] = {}
    for name, module in modules.items():
        for stmt in module.tree.body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                value = _number(stmt.value, own.get(name, {}))
                for target in targets:
                    if isinstance(target, ast.Name) and value is not None:
                        own.setdefault(name, {})[target.id] = value
    for module in modules.values():
        for stmt in module.tree.body:
            if (isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call)
                    and _call_name(stmt.value) == "settings"):
                k = _keyword(stmt.value, "deadline")
                inherits = any(isinstance(a, ast.Name) and a.id in module.no_deadline
                               for a in stmt.value.args)
                if (k is not None and isinstance(k.value, ast.Constant) and k.value.value is None) \
                        or (k is None and inherits):
                    module.no_deadline |= {t.id for t in stmt.targets if isinstance(t, ast.Name)}
    for name, module in modules.items():
        module.constants = dict(own.get(name, {}))
        for stmt in module.tree.body:
            if isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.module.startswith("tests."):
                source = own.get(stmt.module.removeprefix("tests.").replace(".", "/") + ".py", {})
                for alias in stmt.names:
                    if alias.name in source:
                        module.constants[alias.asname or alias.name] = source[alias.name]
    return list(modules.values())


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: _Module, hypothesis_profile: bool):
        self.module = module
        self.c = module.constants
        self.hypothesis_profile = hypothesis_profile
        self.imports_expect = any(
            isinstance(n, ast.ImportFrom) and (n.module or "").startswith("playwright")
            and any(a.name == "expect" for a in n.names) for n in ast.walk(module.tree))
        self.loops = 0
        self.found: list[str] = []

    def report(self, node: ast.AST, message: str) -> None:
        self.found.append(f"{self.module.path}:{node.lineno}: {message}")

    def visit_While(self, node: ast.While) -> None:
        self.loops += 1
        self.generic_visit(node)
        self.loops -= 1

    visit_For = visit_While

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        if node.name.startswith("test") and TEST_NAME_TIME.search(node.name):
            self.report(node, f"{node.name}: a test name says the behaviour, not a time")
        decorators = [d for d in node.decorator_list if isinstance(d, ast.Call)]
        given = any(_call_name(d) == "given" for d in decorators)
        deadline = [_keyword(d, "deadline") for d in decorators if _call_name(d) == "settings"]
        named = any(isinstance(d, ast.Name) and d.id in self.module.no_deadline
                    for d in node.decorator_list)
        if given and not self.hypothesis_profile and not named and not any(
            k is not None and isinstance(k.value, ast.Constant) and k.value.value is None for k in deadline
        ):
            self.report(node, f"{node.name}: @given without @settings(deadline=None) fails an example after 200 ms")
        loops, self.loops = self.loops, 0  # a loop outside the function polls nothing inside it
        self.generic_visit(node)
        self.loops = loops

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Compare(self, node: ast.Compare) -> None:
        operands = [node.left, *node.comparators]
        for i, op in enumerate(node.ops):
            if isinstance(op, ast.Lt | ast.LtE):
                timed, bound = operands[i], operands[i + 1]
            elif isinstance(op, ast.Gt | ast.GtE):
                timed, bound = operands[i + 1], operands[i]
            else:
                continue
            names = _identifiers(timed)
            if not any(DURATION_WORDS.search(n) for n in names):
                continue
            value = _number(bound, self.c)
            ceiling = HANG_MS if any(MILLISECONDS.search(n) for n in names) else HANG_S
            if value is not None and 0 < value < ceiling:
                self.report(node, f"asserts a duration below {ceiling:g}: {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Add):
            for clock, other in ((node.left, node.right), (node.right, node.left)):
                if isinstance(clock, ast.Call) and _call_name(clock) in CLOCKS:
                    value = _number(other, self.c)
                    if value is not None and value < HANG_S:
                        self.report(node, f"a deadline below {HANG_S} s: {ast.unparse(node)}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node) or ""
        on_asyncio = isinstance(node.func, ast.Attribute) and _identifiers(node.func.value) == ["asyncio"]
        if name == "wait_for_timeout":
            self.report(node, "a fixed sleep (wait_for_timeout): wait for the event instead")
        elif name in SLEEPS and self.loops == 0:
            value = _number(node.args[0] if node.args else None, self.c)
            if value is None or value > 0:
                self.report(node, f"a fixed sleep outside a polling loop: {ast.unparse(node)}")
        elif name in PLAYWRIGHT_DEFAULTS:
            value = _number(node.args[0] if node.args else None, self.c)
            if value is not None and value < HANG_MS:
                self.report(node, f"a Playwright default timeout below {HANG_MS} ms: {ast.unparse(node)}")
        elif (name.startswith(("wait_for", "expect_")) or name in PLAYWRIGHT_WAITS) and not on_asyncio:
            timeout = _keyword(node, "timeout")
            value = _number(timeout.value if timeout else None, self.c)
            if value is not None and value < HANG_MS:
                self.report(node, f"a Playwright wait below {HANG_MS} ms: {ast.unparse(node)}")
        elif (self.imports_expect and name.startswith(("to_", "not_to_")) and isinstance(node.func, ast.Attribute)
              and isinstance(node.func.value, ast.Call) and _call_name(node.func.value) == "expect"):
            timeout = _keyword(node, "timeout")
            value = _number(timeout.value if timeout else None, self.c)
            if value is None or value < HANG_MS:
                self.report(node, f"a Playwright expect() without timeout >= {HANG_MS} ms (default 5 s)")
        if on_asyncio and name == "wait_for":
            timeout = _keyword(node, "timeout")
            value = _number(timeout.value if timeout else (node.args[1] if len(node.args) > 1 else None), self.c)
            if value is not None and value < HANG_S:
                self.report(node, f"a wait below {HANG_S} s: {ast.unparse(node)}")
        self.generic_visit(node)


def time_asserts(sources: dict[str, str]) -> list[str]:
    """Every place in these modules (path relative to tests/ -> source) that asserts a time."""
    modules = _modules(sources)
    profile = any(
        isinstance(n, ast.Call) and _call_name(n) == "register_profile"
        and any(k.arg == "deadline" and isinstance(k.value, ast.Constant) and k.value.value is None
                for k in n.keywords)
        for m in modules for n in ast.walk(m.tree))
    found: list[str] = []
    for module in modules:
        scanner = _Scanner(module, profile)
        scanner.visit(module.tree)
        found += scanner.found
    return found


def _test_sources() -> dict[str, str]:
    return {path.relative_to(TESTS).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(TESTS.rglob("*.py")) if "artifacts" not in path.parts}


def test_no_test_asserts_a_duration_or_waits_less_than_a_hang():
    assert time_asserts(_test_sources()) == []


# What the guard catches: the forms that were in the suite before issue 8, and their kin.
CAUGHT = {
    "elapsed": "elapsed = time.perf_counter() - started\nassert elapsed < 5, 'slow'",
    "reversed": "assert 2 >= took_s",
    "milliseconds": "assert latency_ms <= 2000",
    "named limit": "LIMIT = 5\ndef test_x():\n    assert duration < LIMIT",
    "deadline": "deadline = time.monotonic() + 5",
    "playwright wait": "LIVE_MS = 2000\npoint.wait_for(state='attached', timeout=LIVE_MS)",
    "playwright function": "page.wait_for_function('x', timeout=15000)",
    "playwright selector": "page.wait_for_selector('.x', timeout=20_000)",
    "fixed sleep": "page.wait_for_timeout(300)",
    "sleep": "def test_x():\n    time.sleep(2)",
    "default timeout": "page.set_default_timeout(5000)",
    "expect": "from playwright.sync_api import expect\nexpect(page.locator('x')).to_be_visible()",
    "name": "def test_a_case_appears_within_two_seconds():\n    pass",
    "hypothesis": "@given(st.integers())\ndef test_x(n):\n    pass",
    "hypothesis named": "FEW = settings(max_examples=5)\n@FEW\n@given(st.integers())\n"
                        "def test_x(n):\n    pass",
    "asyncio": "async def test_x():\n    await asyncio.wait_for(stream(), timeout=2)",
}
ALLOWED = {
    "ceiling": "from tests.waits import HANG_MS\npoint.wait_for(timeout=HANG_MS)",
    "ceiling in seconds": "from tests.waits import HANG_S\ndeadline = time.monotonic() + HANG_S",
    "polling": "while time.monotonic() < deadline:\n    time.sleep(0.05)",
    "distance": "assert 400 < metres(a, b) < 700",
    "lower bound": "assert elapsed >= 0",
    "hypothesis": "@settings(max_examples=300, deadline=None)\n@given(st.integers())\ndef test_x(n):\n    pass",
    "hypothesis named": "EX = settings(max_examples=5, deadline=None)\n"
                        "MORE = settings(EX, max_examples=9)\n@MORE\n@given(st.integers())\n"
                        "def test_x(n):\n    pass",
    "expect": "from playwright.sync_api import expect\nexpect(page.locator('x')).to_be_visible(timeout=30_000)",
    "asyncio": "async def test_x():\n    await asyncio.wait_for(stream(), timeout=60)",
    "yield": "async def test_x():\n    await asyncio.sleep(0)",
}


@pytest.mark.parametrize("source", CAUGHT.values(), ids=CAUGHT.keys())
def test_the_guard_reports_a_time_asserted(source):
    found = time_asserts({"waits.py": "HANG_S = 30\nHANG_MS = HANG_S * 1000\n",
                          "test_x.py": textwrap.dedent(source)})
    assert [f for f in found if f.startswith("test_x.py:")], source


@pytest.mark.parametrize("source", ALLOWED.values(), ids=ALLOWED.keys())
def test_the_guard_lets_a_wait_for_an_event_pass(source):
    found = time_asserts({"waits.py": "HANG_S = 30\nHANG_MS = HANG_S * 1000\n",
                          "test_x.py": textwrap.dedent(source)})
    assert found == []
