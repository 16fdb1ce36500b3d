"""The shape of the package, checked: small files and functions, no import cycles, dependencies pointing down
(docs/ARCHITECTURE.md), realtime/'s rooms too, and the live engine free of training and evaluation code."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tatumflow"
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 60
# Who may import whom (by subpackage / top-level module). Anything not listed may import only what is listed for it.
LAYERS = {
    "tatumflow": set(), "files": set(), "midistream": {"paths"}, "notes": {"midistream", "files"}, "stats": set(),
    "paths": set(), "fieldcheck": {"files"}, "signals": set(), "stamp": set(),
    "plots": {"notes", "files"}, "timing": {"notes"},
    "model": {"notes", "fieldcheck", "files"},
    "generate": {"model", "notes", "timing", "signals"},
    "train": {"model", "notes", "stats", "signals", "files"},
    "eval": {"generate", "model", "notes", "stats", "timing", "train", "plots", "files", "tunes"},
    "presets": {"generate", "fieldcheck", "files"},
    "realtime": {"generate", "model", "notes", "midistream", "presets", "stats", "timing", "plots", "paths",
                 "fieldcheck", "signals", "files", "tunes"},
    "tune": {"eval", "generate", "model", "notes", "stats", "timing", "train", "paths", "files", "presets"},
    "tunes": {"generate", "notes", "timing", "presets", "paths", "files"},
    "bench": {"generate", "model", "notes", "presets", "realtime", "stats", "timing", "paths", "stamp"},
    "cli": {"bench", "eval", "generate", "model", "notes", "presets", "realtime", "stats", "timing", "train", "paths",
            "signals", "files", "midistream", "tunes", "tune"},
}

# realtime/'s rooms, lowest first: a module imports from its own room and the rooms before it, never from one after.
ROOMS = ("ports", "engine", "control", "session")


def module_name(path: Path) -> str:
    """A file's import name: a package's `__init__.py` is the package itself (`tatumflow.presets`), as `from
    ..presets import x` names it."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def import_statements(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(the module named, the names imported from it) for each import in `name`, module level and inside functions,
    relative ones made absolute; `import a.b` is ("a.b", [])."""
    package = name.rsplit(".", 1)[0] if path.name != "__init__.py" else name
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Absolute names of the tatumflow modules that `name` imports (module level and inside functions)."""
    found = set()
    for target, names in import_statements(name, path):
        found.add(target)
        found.update(f"{target}.{n}" for n in names)
    known = modules()
    return {t for t in found if t in known and t != name}


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def room(name: str) -> str | None:
    """The realtime/ room a module is in (`tatumflow.realtime.engine.modes` -> "engine"), None outside realtime/."""
    parts = name.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "realtime" else None


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    """The imports of a realtime/ room from a room after it in ROOMS."""
    wrong = []
    for name, targets in graph.items():
        own = room(name)
        for target in targets:
            other = room(target)
            if own in ROOMS and other in ROOMS and ROOMS.index(other) > ROOMS.index(own):
                wrong.append(f"{name} -> {target}")
    return sorted(wrong)


def test_packages_are_seen_by_their_import_names():
    """`from ..presets import load_preset` is an edge to `tatumflow.presets` (its __init__), which the checks below
    see; a package named `...presets.__init__` made every such import invisible to them."""
    mods = modules()
    assert "tatumflow.presets" in mods and "tatumflow.presets.__init__" not in mods
    jamconfig = "tatumflow.realtime.session.jamconfig"
    assert "tatumflow.presets" in imports_of(jamconfig, mods[jamconfig])


def test_every_import_of_the_package_names_a_module_there_is():
    """A moved module leaves no import behind (one inside a function fails only when it runs; mypy, which ignores
    missing imports, does not see it)."""
    mods = modules()
    missing = [f"{name}: {target}" for name, path in mods.items() for target, _ in import_statements(name, path)
               if target.split(".")[0] == "tatumflow" and target not in mods]
    assert not missing, missing


def test_files_and_functions_are_small():
    long_files, long_functions = [], []
    for name, path in modules().items():
        lines = path.read_text().splitlines()
        if len(lines) > MAX_FILE_LINES:
            long_files.append(f"{name}: {len(lines)}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {size}")
    assert not long_files, long_files
    assert not long_functions, long_functions


def test_no_import_cycles():
    graph = {name: imports_of(name, path) for name, path in modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(nxt):] + [nxt]) if nxt in trail else nxt)
            if nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def test_dependencies_point_down():
    wrong = []
    for name, path in modules().items():
        own = layer(name)
        allowed = LAYERS.get(own)
        assert allowed is not None, f"{name}: layer {own!r} is not in LAYERS (add it to the test and the docs)"
        for target in imports_of(name, path):
            other = layer(target)
            if other != own and other not in allowed:
                wrong.append(f"{name} -> {target}")
    assert not wrong, wrong


def test_the_live_engine_imports_no_training_or_evaluation():
    for name, path in modules().items():
        if layer(name) == "realtime":
            assert not {layer(t) for t in imports_of(name, path)} & {"train", "eval"}, name


def test_every_realtime_module_is_in_a_room():
    loose = [n for n in modules() if layer(n) == "realtime" and n != "tatumflow.realtime" and room(n) not in ROOMS]
    assert not loose, f"{loose}: put each in one of realtime/'s rooms {ROOMS} (docs/ARCHITECTURE.md)"


def test_realtime_rooms_point_down():
    """session -> control -> engine -> ports, never back: an upward import (a room's package `__init__` included) is
    named, and the check itself sees one."""
    assert upward_edges({"tatumflow.realtime.ports.sinks": {"tatumflow.realtime.engine"},
                         "tatumflow.realtime.engine.modes": {"tatumflow.realtime.ports.sinks"}}) == [
        "tatumflow.realtime.ports.sinks -> tatumflow.realtime.engine"]
    graph = {name: imports_of(name, path) for name, path in modules().items()}
    assert not upward_edges(graph), upward_edges(graph)
