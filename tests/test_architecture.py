"""The floors of kerasformers, read from the source with `ast` (nothing is imported).

A package imports only from its own floor or lower ones:

    floor 0  checks, startup
    floor 1  layers, text, training, checkpoints
    floor 2  models, and the root package `kerasformers` (it re-exports layers, models, training, text)
    floor 3  generation
    floor 4  export
    floor 5  tasks
    floor 6  cli, __main__

and three rules keep it so:
  1. no import circle between packages;
  2. no module imports a package on a higher floor;
  3. no name with a leading underscore crosses a package: not as a module
     (`kerasformers.models._common`), not as an imported name
     (`from kerasformers.generation.decoding import _resolve_sampler`), and not
     as an attribute of an imported module or object (`decoding._resolve_sampler`).
     `examples/` and `benchmarks/` sit outside the package and are held to this
     rule only. `tests/` are exempt.

Every import statement counts, including those inside functions and under
`if TYPE_CHECKING:`, and relative imports are resolved against the module's
package. The checker is a set of plain functions over a graph
`{module: [(imported_module, imported_name_or_None, line), ...]}`, tested on
synthetic graphs first and then run on the real tree.
"""

import ast
import collections
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "kerasformers"
OUTSIDE = ("examples", "benchmarks")  # scanned for rule 3 only

FLOORS = {
    "checks": 0,
    "startup": 0,
    "layers": 1,
    "text": 1,
    "training": 1,
    "checkpoints": 1,
    "models": 2,
    PACKAGE: 2,  # the root package's __init__
    "generation": 3,
    "export": 4,
    "tasks": 5,
    "cli": 6,
    "__main__": 6,
}

Imported = collections.namedtuple("Imported", "module name line kind", defaults=(None, None, "import"))


# --- reading the source --------------------------------------------------------------------------

def module_name(path, root=ROOT):
    """`kerasformers/text/tokenizers.py` -> `"kerasformers.text.tokenizers"`; an `__init__.py` names its package."""
    parts = list(pathlib.Path(path).resolve().relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve_relative(module, is_package, level, target):
    """`from ..x import y` inside `module` -> the absolute module `..x` names."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def _is_private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def collect_imports(source, module, is_package=False):
    """Every import of `source` as `Imported(module, name, line, kind)`, in source order.

    - `import a.b` -> `Imported("a.b", None)`; `from a.b import c` -> `Imported("a.b", "c")`;
      relative imports are made absolute (`from . import x` in package `p` -> `Imported("p", "x")`).
    - `importlib.import_module("a.b")` with a constant string -> `Imported("a.b", None)`.
    - An attribute read on a name bound by an import of a kerasformers module or object:
      `from kerasformers.generation import decoding` then `decoding._step` ->
      `Imported("kerasformers.generation.decoding", "_step", kind="attribute")` (one record
      per link of a chain `a.b.c`).
    """
    tree = ast.parse(source)
    records, bindings = [], {}  # records: (position, Imported); bindings: local name -> dotted module / object

    def add(node, *record):
        records.append(((node.lineno, node.col_offset, node.end_col_offset), Imported(*record)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(node, alias.name, None, node.lineno, "import")
                if alias.asname:
                    bindings[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    bindings[top] = top
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                target = _resolve_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                add(node, target, alias.name, node.lineno, "from")
                if alias.name != "*":
                    bindings[alias.asname or alias.name] = f"{target}.{alias.name}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Attribute, ast.Name))
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and not node.args[0].value.startswith(".")
        ):
            add(node, node.args[0].value, None, node.lineno, "import")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain, base = [node.attr], node.value
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name) or base.id not in bindings:
            continue
        bound = bindings[base.id]
        if bound != PACKAGE and not bound.startswith(PACKAGE + "."):
            continue
        chain.reverse()  # Attribute(Attribute(Name a, b), c) -> [b, c]; each link is also visited on its own
        owner = ".".join([bound] + chain[:-1])
        add(node, owner, chain[-1], node.lineno, "attribute")
    return [record for _, record in sorted(records, key=lambda item: item[0])]


def scan(directory, root=ROOT):
    """`{module: [Imported, ...]}` for every `.py` file under `directory`, plus `{module: path}`."""
    graph, paths = {}, {}
    for path in sorted(pathlib.Path(directory).rglob("*.py")):
        if any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(root).parts):
            continue
        name = module_name(path, root)
        graph[name] = collect_imports(path.read_text(encoding="utf-8"), name, path.name == "__init__.py")
        paths[name] = path.relative_to(root).as_posix()
    return graph, paths


# --- the checker, over any graph ------------------------------------------------------------------

def _record(record):
    """`(module, name, line, kind)` from an `Imported` or a plain `(module, name)` tuple."""
    return Imported(*record)


def package_of(module):
    """`kerasformers.text.tokenizers` -> `text`; `kerasformers` -> `kerasformers`; `examples.x` -> `examples`."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return parts[0]
    return parts[1] if len(parts) > 1 else PACKAGE


def is_internal(module):
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def target_of(record, modules):
    """The module a record depends on: `from kerasformers import text` depends on `kerasformers.text`."""
    record = _record(record)
    if record.name and record.name != "*" and f"{record.module}.{record.name}" in modules:
        return f"{record.module}.{record.name}"
    return record.module


def _where(module, record, paths):
    place = paths.get(module, module) if paths else module
    return f"{place}:{record.line}" if record.line else place


def _describe(record):
    record = _record(record)
    if record.kind == "attribute":
        return f"reads {record.module}.{record.name}"
    if record.name is None:
        return f"imports {record.module}"
    return f"imports {record.name} from {record.module}"


def package_edges(graph):
    """`{(importer_package, imported_package): first (module, record)}` over the kerasformers modules."""
    modules = set(graph)
    edges = {}
    for module, records in sorted(graph.items()):
        if not is_internal(module):
            continue
        for record in records:
            target = target_of(record, modules)
            if not is_internal(target):
                continue
            source_package, target_package = package_of(module), package_of(target)
            if source_package != target_package:
                edges.setdefault((source_package, target_package), (module, _record(record)))
    return edges


def find_cycles(graph):
    """Every simple circle of the package graph, as a path `[a, b, ..., a]` from its smallest package."""
    successors = collections.defaultdict(set)
    for source, target in package_edges(graph):
        successors[source].add(target)
    cycles = []

    def walk(start, node, path):
        for following in sorted(successors[node]):
            if following == start:
                cycles.append(path + [start])
            elif following > start and following not in path:
                walk(start, following, path + [following])

    for start in sorted(successors):
        walk(start, start, [start])
    return cycles


def check_cycles(graph, paths=None):
    """Rule 1: one readable line per import circle, with the import that makes each step."""
    edges = package_edges(graph)
    problems = []
    for cycle in find_cycles(graph):
        steps = []
        for source, target in zip(cycle, cycle[1:]):
            module, record = edges[(source, target)]
            steps.append(f"    {source} -> {target}: {_where(module, record, paths)} {_describe(record)}")
        problems.append("import circle " + " -> ".join(cycle) + "\n" + "\n".join(steps))
    return problems


def check_floors(graph, paths=None, floors=FLOORS):
    """Rule 2 (and packages on no floor): one line per import of a higher floor."""
    modules = set(graph)
    problems = []
    for module, records in sorted(graph.items()):
        if not is_internal(module):
            continue
        package = package_of(module)
        if package not in floors:
            problems.append(f"{paths.get(module, module) if paths else module}: package {package!r} is on no floor "
                            "(add it to FLOORS in tests/test_architecture.py and to docs)")
            continue
        for record in records:
            record = _record(record)
            target = target_of(record, modules)
            if not is_internal(target):
                continue
            target_package = package_of(target)
            if floors.get(target_package, -1) > floors[package]:
                problems.append(
                    f"{_where(module, record, paths)} {package} (floor {floors[package]}) {_describe(record)}: "
                    f"{target_package} is on floor {floors[target_package]}"
                )
    return problems


def check_private_names(graph, paths=None):
    """Rule 3: one line per underscore name (module, imported name or attribute) taken from another package."""
    problems = []
    for module, records in sorted(graph.items()):
        for record in records:
            record = _record(record)
            if not is_internal(record.module):
                continue
            full = record.module + (f".{record.name}" if record.name and record.name != "*" else "")
            owner = package_of(full)
            if is_internal(module) and package_of(module) == owner:
                continue  # a package's own private names are its own business
            private = [part for part in full.split(".")[1:] if _is_private(part)]
            if private:
                home = PACKAGE if _is_private(owner) else f"{PACKAGE}.{owner}"
                problems.append(f"{_where(module, record, paths)} {_describe(record)}: "
                                f"{', '.join(private)} is private to {home}")
    return problems


def check(graph, paths=None, floors=FLOORS):
    """All three rules over a graph: a list of readable problems, empty when the floors hold."""
    return check_cycles(graph, paths) + check_floors(graph, paths, floors) + check_private_names(graph, paths)


# --- the checker on synthetic graphs ---------------------------------------------------------------

CLEAN = {
    "kerasformers": [("kerasformers.layers", None), ("kerasformers.models", "TransformerSeq2Seq"),
                     ("kerasformers", "training"), ("kerasformers", "text")],
    "kerasformers.checks": [("math", None)],
    "kerasformers.layers": [("kerasformers.layers.attention", "MultiHeadAttention")],
    "kerasformers.layers._block": [("kerasformers.checks", "check_int")],
    "kerasformers.layers.attention": [("kerasformers.layers._block", "Block"), ("keras", None)],
    "kerasformers.text": [("kerasformers.text.tokenizers", "encode")],
    "kerasformers.text.tokenizers": [("kerasformers.checks", "check_choice"), ("keras.src.utils", "_private")],
    "kerasformers.training": [("kerasformers.training.recipe", "compile_recipe")],
    "kerasformers.training.recipe": [("kerasformers.checks", None)],
    "kerasformers.models": [("kerasformers.models.seq2seq", "TransformerSeq2Seq")],
    "kerasformers.models._common": [],
    "kerasformers.models.seq2seq": [("kerasformers.layers", "TransformerDecoder"), ("kerasformers.models", "_common"),
                                    ("kerasformers.models._common", "_helper")],
    "kerasformers.generation": [("kerasformers.generation.decoding", "generate")],
    "kerasformers.generation.decoding": [("kerasformers.generation.decoding", "_step")],
    "kerasformers.export": [("kerasformers.generation", "decoding"), ("kerasformers.generation.decoding", "generate"),
                            ("kerasformers.generation.decoding", "__name__", None, "attribute")],
    "kerasformers.tasks": [("kerasformers", None), ("kerasformers.export", None), ("kerasformers.text", "encode")],
    "kerasformers.cli": [("kerasformers.tasks", "run")],
    "kerasformers.__main__": [("kerasformers.cli", "main")],
    "examples.translate": [("kerasformers.tasks", "run"), ("benchmarks._common", "_anything")],
}


def test_a_clean_synthetic_graph_has_no_problem():
    assert check(CLEAN) == []


def test_a_circle_models_generation_models_is_reported_with_its_path():
    graph = {**CLEAN, "kerasformers.models.seq2seq": CLEAN["kerasformers.models.seq2seq"] + [
        ("kerasformers.generation.decoding", "generate", 12)]}
    graph["kerasformers.generation.decoding"] = [("kerasformers.models", "TransformerSeq2Seq", 3)]
    cycles = check_cycles(graph)
    assert find_cycles(graph) == [["generation", "models", "generation"]]
    assert len(cycles) == 1 and cycles[0].startswith("import circle generation -> models -> generation")
    assert "kerasformers.models.seq2seq:12 imports generate from kerasformers.generation.decoding" in cycles[0]
    assert "kerasformers.generation.decoding:3 imports TransformerSeq2Seq from kerasformers.models" in cycles[0]
    assert any("models (floor 2) imports generate" in p for p in check_floors(graph))  # and the upward import


def test_a_longer_circle_is_reported_once():
    graph = {**CLEAN, "kerasformers.checks": [("kerasformers.text", "encode")]}  # checks -> text -> checks
    graph["kerasformers.text.tokenizers"] = CLEAN["kerasformers.text.tokenizers"] + [("kerasformers.training", None)]
    graph["kerasformers.training.recipe"] = [("kerasformers", "checks")]  # via the root: kerasformers.checks
    assert sorted(find_cycles(graph)) == [["checks", "text", "checks"], ["checks", "text", "training", "checks"]]


def test_layers_importing_models_is_an_upward_import():
    graph = {**CLEAN, "kerasformers.layers.attention": [("kerasformers.models", "TransformerSeq2Seq", 7)]}
    paths = {"kerasformers.layers.attention": "kerasformers/layers/attention.py"}
    assert check_floors(graph, paths) == [
        "kerasformers/layers/attention.py:7 layers (floor 1) imports TransformerSeq2Seq from kerasformers.models: "
        "models is on floor 2"
    ]
    assert find_cycles(graph) == [["layers", "models", "layers"]]  # models build on layers: a circle as well
    assert check_private_names(graph, paths) == []


def test_a_submodule_imported_through_its_parent_counts_as_that_submodule():
    graph = {**CLEAN, "kerasformers.text.pipelines": [("kerasformers", "models", 4)]}  # from kerasformers import models
    assert check_floors(graph) == [
        "kerasformers.text.pipelines:4 text (floor 1) imports models from kerasformers: models is on floor 2"
    ]
    graph = {**CLEAN, "kerasformers.text.pipelines": [("kerasformers", None, 4)]}  # import kerasformers: the root
    assert check_floors(graph) == [
        "kerasformers.text.pipelines:4 text (floor 1) imports kerasformers: kerasformers is on floor 2"
    ]


@pytest.mark.parametrize("record, private", [
    (("kerasformers.generation", "_private", 5), "_private"),  # from kerasformers.generation import _private
    (("kerasformers.generation._private", "run", 5), "_private"),  # from kerasformers.generation._private import run
    (("kerasformers.generation.decoding", "_resolve_sampler", 5), "_resolve_sampler"),
    (("kerasformers.generation._private", None, 5), "_private"),  # import kerasformers.generation._private
    (("kerasformers.generation.decoding", "_resolve_sampler", 5, "attribute"), "_resolve_sampler"),  # decoding._x
])
def test_export_taking_a_private_name_of_generation(record, private):
    graph = {**CLEAN, "kerasformers.export": [record]}
    problems = check(graph)
    assert len(problems) == 1 and problems[0].startswith("kerasformers.export:5 ")
    assert problems[0].endswith(f"{private} is private to kerasformers.generation")


def test_private_names_of_the_root_and_outside_scripts():
    graph = {**CLEAN, "examples.translate": [("kerasformers.tasks._args", "add", 2)],
             "benchmarks.speed": [("kerasformers", "_version", 3), ("benchmarks._common", "timer", 1)]}
    assert check_private_names(graph) == [
        "benchmarks.speed:3 imports _version from kerasformers: _version is private to kerasformers",
        "examples.translate:2 imports add from kerasformers.tasks._args: _args is private to kerasformers.tasks",
    ]


def test_a_package_on_no_floor():
    graph = {**CLEAN, "kerasformers.utils": []}
    assert check_floors(graph) == [
        "kerasformers.utils: package 'utils' is on no floor "
        "(add it to FLOORS in tests/test_architecture.py and to docs)"
    ]


def test_collect_imports_reads_every_kind_of_import():
    source = '''
import kerasformers.text
import kerasformers.models._common as common
from kerasformers.generation import decoding
from . import _args
from ..export import serving as srv

def late():
    from kerasformers.layers import _block
    import importlib
    importlib.import_module("kerasformers.tasks.translation")
    return decoding._resolve_sampler, kerasformers.text.tokenizers._as_text_list, srv.export, common.x, self._x
'''
    records = collect_imports(source, "kerasformers.tasks.runs")
    assert [(r.module, r.name, r.kind) for r in records] == [
        ("kerasformers.text", None, "import"),
        ("kerasformers.models._common", None, "import"),
        ("kerasformers.generation", "decoding", "from"),
        ("kerasformers.tasks", "_args", "from"),
        ("kerasformers.export", "serving", "from"),
        ("kerasformers.layers", "_block", "from"),
        ("importlib", None, "import"),
        ("kerasformers.tasks.translation", None, "import"),
        ("kerasformers.generation.decoding", "_resolve_sampler", "attribute"),
        ("kerasformers", "text", "attribute"),
        ("kerasformers.text", "tokenizers", "attribute"),
        ("kerasformers.text.tokenizers", "_as_text_list", "attribute"),
        ("kerasformers.export.serving", "export", "attribute"),
        ("kerasformers.models._common", "x", "attribute"),
    ]
    graph = {**CLEAN, "kerasformers.tasks.runs": records}
    problems = check_private_names(graph)
    assert [p.split(": ")[-1] for p in problems] == [
        "_common is private to kerasformers.models",
        "_block is private to kerasformers.layers",
        "_resolve_sampler is private to kerasformers.generation",
        "_as_text_list is private to kerasformers.text",
        "_common is private to kerasformers.models",
    ]
    assert collect_imports("from . import x", "kerasformers.text", is_package=True)[0].module == "kerasformers.text"
    assert collect_imports("from .. import x", "kerasformers.text.pipelines")[0].module == "kerasformers"


def test_the_checker_catches_a_bad_import_in_a_scratch_copy_of_the_tree(tmp_path):
    """The real scan, on a copy of the package with one bad import added (the real files are not touched)."""
    import shutil

    shutil.copytree(ROOT / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("__pycache__"))
    before = set(check(*scan(tmp_path / PACKAGE, tmp_path)))
    bad = tmp_path / PACKAGE / "text" / "tokenizers.py"
    bad.write_text(bad.read_text(encoding="utf-8") + "\n\ndef _late():\n"
                   "    from kerasformers.generation.decoding import _private_step\n", encoding="utf-8")
    after = set(check(*scan(tmp_path / PACKAGE, tmp_path)))
    new = sorted(after - before)
    line = len(bad.read_text(encoding="utf-8").splitlines())
    where = f"kerasformers/text/tokenizers.py:{line}"
    assert [p for p in new if not p.startswith("import circle")] == [
        f"{where} imports _private_step from kerasformers.generation.decoding: _private_step is private to "
        "kerasformers.generation",
        f"{where} text (floor 1) imports _private_step from kerasformers.generation.decoding: generation is on floor 3",
    ]
    assert (ROOT / PACKAGE / "text" / "tokenizers.py").read_text(encoding="utf-8").count("_private_step") == 0


# --- the real tree -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def package():
    return scan(ROOT / PACKAGE)


def _report(problems, rule):
    return f"{len(problems)} {rule}:\n" + "\n".join(problems)


def test_the_scan_sees_the_whole_package(package):
    graph, _ = package
    assert {"kerasformers", "kerasformers.checks", "kerasformers.cli", "kerasformers.__main__",
            "kerasformers.text.tokenizers", "kerasformers.training.recipe"} <= set(graph)
    assert {package_of(m) for m in graph} == set(FLOORS)


def test_no_import_circle_between_packages(package):
    problems = check_cycles(*package)
    assert not problems, _report(problems, "import circles")


def test_no_package_imports_a_higher_floor(package):
    problems = check_floors(*package)
    assert not problems, _report(problems, "imports of a higher floor")


def test_no_private_name_crosses_a_package(package):
    problems = check_private_names(*package)
    assert not problems, _report(problems, "private names taken from another package")


@pytest.mark.parametrize("directory", OUTSIDE)
def test_examples_and_benchmarks_use_only_public_names(directory):
    graph, paths = scan(ROOT / directory)
    assert graph, f"nothing to scan in {directory}/"
    problems = check_private_names(graph, paths)
    assert not problems, _report(problems, f"private kerasformers names used in {directory}/")
