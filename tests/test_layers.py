"""The package's rooms are layered: a module imports only modules of its own room or of rooms
below it (bert_int8/__init__.py draws the order), at module level or inside a function."""

import ast

from conftest import REPO

ORDER = [
    "core",
    "stats",
    "data",
    "model",
    "backends",
    "train",
    "quantize",
    "measure",
    "serve",
    "score",
    "report",
    "cli",
]
PKG = REPO / "bert_int8"


def _room(path):
    parts = path.relative_to(PKG).with_suffix("").parts
    return parts[0]


def _imported_rooms(path):
    """Rooms named by one file's imports (absolute, or relative to the file's room)."""
    rooms = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # `.x` stays in the room; deeper relative imports would leave it
                assert node.level == 1, f"{path}: import from {'.' * node.level}{node.module}"
                continue
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("bert_int8."):
                rooms.add(name.split(".")[1])
            elif name == "bert_int8":
                rooms.update(a.name for a in node.names)
    return rooms


def test_the_order_names_every_room():
    rooms = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    rooms |= {p.stem for p in PKG.glob("*.py") if p.stem != "__init__"}
    assert rooms == set(ORDER)


def test_no_module_imports_a_room_above_its_own():
    upward = []
    for path in sorted(PKG.rglob("*.py")):
        if path.parent == PKG and path.stem == "__init__":
            continue
        own = ORDER.index(_room(path))
        for room in _imported_rooms(path):
            if room in ORDER and ORDER.index(room) > own:
                upward.append(f"{path.relative_to(REPO)} -> {room}")
    assert upward == []


def test_the_check_sees_an_upward_import(tmp_path):
    # the scan itself: a core module importing from serve is reported
    path = tmp_path / "bad.py"
    path.write_text("def f():\n    from bert_int8.serve.predict import Classifier\n")
    assert _imported_rooms(path) == {"serve"}


def test_the_readme_and_the_package_draw_the_same_order():
    rooms = ", ".join(f"`{room}`" for room in ORDER)
    assert f"in rooms from the ground up: {rooms};" in (REPO / "README.md").read_text(encoding="utf-8")
    assert " < ".join(ORDER) in (PKG / "__init__.py").read_text(encoding="utf-8")


def test_every_stage_script_calls_one_function_of_the_package():
    for script in sorted((REPO / "stages").glob("*.py")):
        main = next(n for n in ast.parse(script.read_text(encoding="utf-8")).body if getattr(n, "name", "") == "main")
        called = [ast.unparse(n.func) for n in ast.walk(main) if isinstance(n, ast.Call)]
        # the one call, with load_params() building its arguments
        assert len(main.body) == 1 and len([c for c in called if c != "load_params"]) == 1, (script.name, called)
