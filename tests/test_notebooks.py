"""The notebooks run top to bottom on the venv's kernel, and are committed with outputs."""

import importlib
import importlib.util
import os
import re
import sys
import time
from pathlib import Path

import pytest

import pcdiag

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
REAL = Path(
    os.environ.get("PCDIAG_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
).resolve()
BUDGET_S = 120  # each notebook, on the reference 2-core CPU when idle


def test_the_five_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_energy_imbalance.ipynb", "03_learning_rate_sensitivity.ipynb",
        "04_deep_energy_decay.ipynb", "05_generative.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "execute the notebook and save it"
    counts = [c.execution_count for c in code]
    assert counts == list(range(1, len(code) + 1)), "run top to bottom in one kernel"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "a plot is shown"
    assert any(c.cell_type == "markdown" for c in nb.cells)


#: Text a reader should never meet in a committed output: a warning, or a path of the machine
#: that executed it: any absolute path with a folder in it, or an installed package's.
ABSOLUTE_PATH = re.compile(r"(?<![\w.~%-])/(?:[\w.-]+/)+")
#: what looks like a path but is none: a URL with a host, an inline base64 image
NOT_PATHS = re.compile(r"[a-z][\w+.-]*://[^/\s]+\S*|data:[\w/+.-]+;base64,[\w+/=]+")


def machine_paths(text: str) -> list[str]:
    """The machine paths in an output's text (ABSOLUTE_PATH, and site-packages)."""
    found = ABSOLUTE_PATH.findall(NOT_PATHS.sub("", text))
    return found + (["site-packages"] if "site-packages" in text else [])


def _output_text(output) -> str:
    if output.output_type == "stream":
        return output.text
    data = output.get("data", {})
    return "\n".join(str(data[k]) for k in ("text/plain", "text/html", "text/markdown")
                     if k in data) + str(output.get("traceback", ""))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_carry_no_warning_and_no_machine_path(path):
    """A Jupyter user meets these outputs first: no stderr, no 'Warning', no paths of the
    machine that executed them (e.g. tqdm's TqdmWarning without ipywidgets)."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            text = _output_text(output)
            if output.output_type == "stream" and output.name == "stderr":
                found.append(f"cell {index}: stderr {text[:120]!r}")
            if "Warning" in text:
                found.append(f"cell {index}: a warning {text[:120]!r}")
            found += [f"cell {index}: machine path {p!r}" for p in machine_paths(text)]
    assert not found, "re-execute the notebook (see README) and save it:\n" + "\n".join(found)


def test_machine_paths_are_found_and_urls_and_images_are_not():
    home = "/" + "/".join(("home", "reader", "pcdiag", "x.py"))  # a path of no one's machine
    assert machine_paths(f"File {home}, line 3") == [home.rsplit("/", 1)[0] + "/"]
    assert machine_paths("see file:///var/data/x.nc") == ["/var/data/"]
    assert machine_paths(".venv/lib/python3.11/site-packages/jax") == ["site-packages"]
    assert machine_paths("https://xarray.dev/a/b/ 52k samples/s, 1/2/3, </div></td> "
                         "data:image/png;base64,iVBO/Rw0K/GgoA/AAAN+/") == []


def _pcdiag_names(nb) -> set[tuple[str, str]]:
    """(module, attribute) for every pcdiag name a notebook's code uses: its imports (`from
    pcdiag import figures`, `import pcdiag.plot as pplot`, ...) and the dotted names read
    through them (`figures.summary_state_optimizer`, `pplot.energy_per_layer`)."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    aliases = {"pcdiag": "pcdiag"}
    for module, alias in re.findall(r"^\s*import (pcdiag[\w.]*) as (\w+)", code, re.M):
        aliases[alias] = module
    names = set()
    for parent, imported in re.findall(r"^\s*from (pcdiag[\w.]*) import ([\w, ]+)$", code,
                                       re.M):
        for name in (n.strip() for n in imported.split(",")):
            names.add((parent, name))
            aliases[name] = f"{parent}.{name}"
    for alias, attribute in re.findall(r"\b(\w+)\.([A-Za-z_]\w*)", code):
        if alias in aliases:
            names.add((aliases[alias], attribute))
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_pcdiag_name_a_notebook_uses_exists(path):
    """What the slow tier's runs would find first, in a second: a notebook calling a name
    that a refactor moved or removed."""
    missing = []
    for parent, name in sorted(_pcdiag_names(nbformat.read(path, as_version=4))):
        module = importlib.import_module(parent) if parent != "pcdiag" else pcdiag
        if not hasattr(module, name) and importlib.util.find_spec(f"{parent}.{name}") is None:
            missing.append(f"{parent}.{name}")
    assert not missing, f"{path.name} uses names pcdiag does not have: {missing}"


@pytest.mark.slow  # 20 s to 2 min each; the default tier checks the committed outputs
@pytest.mark.skipif(not (REAL / "fashion-mnist").is_dir(), reason="Fashion-MNIST not found")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv("PCDIAG_DATA", str(REAL))  # the kernel inherits the environment
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print(sys.executable)"))
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=600,
                                     resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    kernel_python = nb.cells[-1].outputs[0]["text"].strip()
    assert Path(kernel_python).resolve() == Path(sys.executable).resolve(), (
        f"the 'python3' kernel runs {kernel_python}, not this environment's {sys.executable}"
    )
    print(f"{path.name}: {seconds:.0f} s (budget {BUDGET_S} s on an idle 2-core CPU)")
