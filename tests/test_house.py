"""The house plan: a network defined here alone trains through the contract with every
algorithm and full recording; registries and Config agree; no import cycles; no module is
named like a function of the package face."""

import ast
import dataclasses
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import pcdiag
from pcdiag import config as config_facts
from pcdiag.algorithms import ALGORITHMS
from pcdiag.data import registry
from pcdiag.nets import MLP, NETS, Net
from pcdiag.nets import build as build_net

DATA = Path(os.environ.get("PCDIAG_DATA")
            or Path(__file__).resolve().parents[2] / "shared" / "data")
PACKAGE = Path(pcdiag.__file__).parent
#: A function named by a string, as the executors take it: "pcdiag.runs:run_stored_unit".
STRING_REFERENCE = re.compile(r"(pcdiag(?:\.\w+)+):\w+")


# ----------------------------------------------------------------------- a network of our own


@dataclasses.dataclass(frozen=True)
class TwoHidden(Net):
    """784 -> 24 (tanh) -> 16 (relu: a different activation on the last hidden node) -> 10.
    Written against the contract only: nothing in pcdiag knows it."""

    input_shape: tuple = (28, 28, 1)
    node_shapes: tuple = ((24,), (16,), (10,))
    depth: int = 3

    def init(self, key):
        sizes = [784, 24, 16, 10]
        keys = jax.random.split(key, 3)
        return tuple(
            {"w": jax.random.normal(k, (a, b)) / math.sqrt(a), "b": jnp.zeros(b)}
            for k, a, b in zip(keys, sizes[:-1], sizes[1:])
        )

    def predict(self, params, layer, x_prev):
        x = x_prev.reshape(x_prev.shape[0], -1)
        pre = x @ params[layer - 1]["w"] + params[layer - 1]["b"]
        return {1: jnp.tanh, 2: jax.nn.relu, 3: lambda v: v}[layer](pre)


@pytest.fixture(scope="module")
def toy_name():
    pcdiag.register_net("two-hidden-test", lambda cfg, shape, classes: TwoHidden())  # 1 line
    yield "two-hidden-test"
    NETS.pop("two-hidden-test")


TOY = dict(data_dir=str(DATA), train_limit=640, test_limit=1000, depth=3, batch_size=64,
           inference_steps=6, gamma=0.1, bp_alignment=True, hessian_samples=2)


@pytest.mark.parametrize("algorithm", ["pc", pytest.param("epc", marks=pytest.mark.slow),
                                       pytest.param("ipc", marks=pytest.mark.slow),
                                       pytest.param("bp", marks=pytest.mark.slow)])
def test_a_network_defined_in_a_test_file_trains_with_full_recording(toy_name, algorithm):
    ds = pcdiag.validate(pcdiag.train(pcdiag.Config(net=toy_name, algorithm=algorithm, **TOY)))
    assert ds["layer"].values.tolist() == [1, 2, 3]
    assert ds.attrs["config"].count(toy_name) == 1
    assert np.all(np.isfinite(ds.weight_grad_norm)) and np.all(ds.weight_grad_norm > 0)
    # it learned: 10 steps on 640 real images lift accuracy well above chance (0.1)
    assert float(ds.test_accuracy[-1]) > 0.3, float(ds.test_accuracy[-1])
    if algorithm == "bp":
        assert np.all(np.isnan(ds.energy)) and np.all(np.isnan(ds.bp_cosine))
        return
    energy = ds.energy.values
    assert np.all(energy[np.isfinite(energy)] >= 0)
    if algorithm != "ipc":  # forward initialisation: hidden energies exactly 0 at t = 0
        assert np.all(energy[:, 0, :-1] == 0.0)
        # inference lowers F within a step (weights fixed), at every step
        assert np.all(ds.energy_total.isel(t=-1) < ds.energy_total.isel(t=0))
    np.testing.assert_allclose(ds.energy_total, energy.sum(-1), rtol=1e-6)
    assert np.all(np.isnan(ds.state_grad_norm.sel(layer=3)))
    assert np.all(ds.state_grad_norm.sel(layer=[1, 2]) >= 0)
    assert np.all(np.isfinite(ds.hessian_condition)) and np.all(ds.hessian_condition >= 1)
    # the error has reached layer 3 by the end of inference: PC's update there points
    # like backprop's
    assert float(ds.bp_cosine.sel(layer=3).median()) > 0.5


def test_a_network_of_another_depth_than_the_config_is_refused(toy_name):
    with pytest.raises(pcdiag.ConfigError,
                       match=r"net='two-hidden-test' has 3 weight layers but depth=4; set "
                             r"depth=3"):
        pcdiag.train(pcdiag.Config(net=toy_name, **(TOY | {"depth": 4})))


def test_an_unregistered_net_is_refused_with_the_known_ones():
    with pytest.raises(pcdiag.ConfigError,
                       match=r"net='transformer' is invalid: must be one of mlp, vgg, resnet"):
        pcdiag.Config(net="transformer")


def test_mlp_through_the_registry_is_the_config_s_mlp():
    net = NETS["mlp"](pcdiag.Config(depth=4, width=32), (28, 28, 1), 10)
    assert net == MLP((784, 32, 32, 32, 10), "hard_tanh", "sp", False, (28, 28, 1))
    assert net.describe() == "[784, 32, 32, 32, 10]"
    assert net.node_shapes == ((32,), (32,), (32,), (10,))


# ----------------------------------------------------------------------- registries and facts


def test_config_algorithms_and_the_registry_cannot_drift():
    assert set(config_facts.ALGORITHMS) == set(ALGORITHMS)
    assert config_facts.choices("algorithm") == config_facts.ALGORITHMS


def test_a_data_set_is_one_registry_line_for_config_and_the_networks(monkeypatch):
    """Config's choices, split sizes and the networks' input shape all read the registry."""
    facts = dataclasses.replace(registry.DATASETS["mnist"], name="tiny-colour",
                                input_shape=(8, 8, 3), n_train=100, n_test=20)
    monkeypatch.setitem(registry.DATASETS, "tiny-colour", facts)
    config = pcdiag.Config(dataset="tiny-colour", batch_size=10, depth=2, width=8)
    assert config.n_train == 100
    with pytest.raises(pcdiag.ConfigError, match="test_limit=21 is invalid: tiny-colour has "
                                                 "only 20 examples"):
        config.replace(test_limit=21)
    assert tuple(build_net(config).input_shape) == (8, 8, 3)
    assert build_net(config).node_shapes[-1] == (10,)


def test_every_field_has_its_facts_and_the_roles_partition_the_fields():
    names = config_facts.field_names()
    for name in names:
        assert config_facts.role(name) in config_facts.ROLES
        assert config_facts.list_separator(name) in (",", ";")
    assert config_facts.traced_fields() == ("gamma", "weight_lr", "momentum", "weight_decay",
                                            "nudge_beta", "nudge_beta_step")
    assert [n for n in names if config_facts.vectorisable(n)] == [
        "gamma", "weight_lr", "momentum", "weight_decay", "nudge_beta", "nudge_beta_step",
        "seed"]
    assert [n for n in names if config_facts.nullable(n)] == [
        "data_dir", "train_limit", "test_limit", "layer_precision", "lr_warmup_steps",
        "lr_decay_steps", "nudge_signs", "memory_limit_gb"]
    assert [n for n in names if not config_facts.affects_results(n)] == [
        "data_dir", "memory_limit_gb"]
    from pcdiag.algorithms import Hyper, Program
    assert Hyper._fields == config_facts.traced_fields()
    program = {f.name for f in dataclasses.fields(Program)}
    assert program == (set(config_facts.program_fields()) - {"net"}) | {"net"}


def test_unknown_field_facts_name_the_field():
    with pytest.raises(pcdiag.ConfigError, match=r"unknown config field 'gama'; known fields: "):
        config_facts.role("gama")


# ----------------------------------------------------------------------- the layout


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        if not (path.parent / "__init__.py").is_file():
            continue  # package data, not a module: the PCX harness (run in PCX's own venv)
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, modules) -> set[str]:
    """Modules of pcdiag that `name` imports: at module level, inside functions (run later,
    but still an edge of the graph), ``importlib.import_module("pcdiag...")`` with a constant
    name and ``"pcdiag.module:attribute"`` references (a function named by a string)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level
                                                + 1] + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in modules else base)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"):
            found.add(node.args[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = STRING_REFERENCE.fullmatch(node.value)
            if match:
                found.add(match[1])
    return {m for m in found if m in modules and m != name}


def import_cycles() -> list[list[str]]:
    """Each import cycle of pcdiag once, as a chain of modules (the first one repeated at the
    end): the strongly connected components of the import graph, each shown by one loop
    through all of its modules where one exists, else by its shortest loops."""
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    cycles = []
    for component in _components(graph):
        for start in sorted(component):  # one shortest loop through each module, deduplicated
            loop = _shortest_loop(graph, start, component)
            if loop and not any(_same_loop(loop, seen) for seen in cycles):
                cycles.append(loop)
    return cycles


def _components(graph) -> list[set[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                top = stack.pop()
                on.discard(top)
                component.add(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def _shortest_loop(graph, start: str, component: set[str]) -> list[str] | None:
    paths, frontier = {start: [start]}, [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    return None


def _same_loop(a: list[str], b: list[str]) -> bool:
    a, b = a[:-1], b[:-1]
    return len(a) == len(b) and any(a[i:] + a[:i] == b for i in range(len(a)))


def test_no_import_cycles_in_pcdiag():
    """No cycle, counting imports inside functions and modules named by strings."""
    assert len(_modules()) > 40  # the walk sees the whole package
    cycles = import_cycles()
    assert not cycles, f"{len(cycles)} import cycles:\n" + "\n".join(
        " -> ".join(cycle) for cycle in cycles)


@pytest.mark.slow  # a fresh interpreter per module (~20 s)
def test_every_module_imports_alone():
    """Each module imported first, with no other pcdiag module loaded (third-party modules
    stay loaded between them, so this takes seconds, not one interpreter each)."""
    code = (
        "import sys, importlib\n"
        f"names = {_importable()!r}\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m == 'pcdiag' or m.startswith('pcdiag.')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
        "print(len(names))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"}, timeout=300,
                         cwd=PACKAGE.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    assert int(out.stdout.split()[-1]) == len(_importable())


def _importable() -> list[str]:
    """Every module but the `__main__` entry points (importing one runs the command)."""
    return sorted(m for m in _modules() if not m.endswith("__main__"))


def test_no_module_is_named_like_a_function_of_the_face():
    for name in pcdiag.__all__:
        assert not (PACKAGE / f"{name}.py").exists(), name
        assert not (PACKAGE / name).is_dir(), name
    assert callable(pcdiag.train) and callable(pcdiag.sweep)  # the functions, not modules
