"""PCX 0.6.3, the reference: its virtual environment (made on first use), its harness processes
(pcx_mlp.py, pcx_vgg.py in the package folder pcdiag/speed/pcx_harness/, shipped as package
data), the weights handed to them, and the energy comparison."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from pcdiag.data import cache_root
from pcdiag.speed.log import say

PCX_VERSION = "0.6.3"
PCX_VENV_ENV = "PCDIAG_PCX_VENV"


def _harness_dir() -> Path:
    """The harness folder as a file-system path (a subprocess runs its scripts)."""
    folder = resources.files("pcdiag.speed") / "pcx_harness"
    return folder if isinstance(folder, Path) else Path(str(folder))


#: The PCX harness: package data of pcdiag.speed (see its README.md).
PCX_DIR = _harness_dir()
PCX_SCRIPT = PCX_DIR / "pcx_mlp.py"
PCX_VGG_SCRIPT = PCX_DIR / "pcx_vgg.py"
PCX_REQUIREMENTS = PCX_DIR / "requirements-pcx.txt"
HARNESS_FILES = (PCX_SCRIPT, PCX_VGG_SCRIPT, PCX_REQUIREMENTS)


def default_pcx_venv() -> Path:
    """Where the PCX venv goes unless told: <user cache>/pcx-venv (the cache folder of
    pcdiag.data: $PCDIAG_CACHE, else $XDG_CACHE_HOME/pcdiag, else ~/.cache/pcdiag)."""
    return cache_root() / "pcx-venv"


def missing_harness_files() -> list[Path]:
    """The harness files this installation lacks (none in a checkout or a wheel)."""
    return [path for path in HARNESS_FILES if not path.is_file()]


#: Energy agreement: |pcdiag - pcx| <= ATOL + RTOL * |pcx|, per layer, at every t.
ENERGY_ATOL, ENERGY_RTOL = 1e-5, 1e-4


def pcx_venv_recipe(venv: Path, python: str | None = None) -> list[list[str]]:
    """The commands that make the PCX venv (see pcx_harness/README.md)."""
    py = python or sys.executable
    vpy = str(Path(venv) / "bin" / "python")
    return [
        [py, "-m", "venv", str(venv)],
        [vpy, "-m", "pip", "install", "--upgrade", "pip"],
        [vpy, "-m", "pip", "install", "-r", str(PCX_REQUIREMENTS)],
    ]


def resolve_pcx_venv(option: str | None) -> Path:
    """--pcx-venv, else $PCDIAG_PCX_VENV, else default_pcx_venv()."""
    return Path(option or os.environ.get(PCX_VENV_ENV) or default_pcx_venv()).expanduser()


def ensure_pcx(venv: Path) -> tuple[str | None, str]:
    """(python of a working PCX venv, how it was found) or (None, why it is unavailable)."""
    if missing := missing_harness_files():
        return None, (f"the PCX harness is incomplete: {', '.join(map(str, missing))} missing "
                      f"(package data of pcdiag.speed); reinstall pcdiag")
    python = Path(venv) / "bin" / "python"
    probe = [str(python), "-c", "import pcx, jax; from importlib.metadata import version; "
             "print(version('pcx'), jax.__version__)"]
    how = f"existing venv {venv}"
    if not python.exists():
        if sys.version_info < (3, 11):
            return None, (f"cannot make the PCX venv: the pinned numpy needs Python >= 3.11, "
                          f"this is {platform.python_version()}")
        say(f"PCX venv {venv} is missing: making it (python -m venv + pip install -r "
             f"{PCX_REQUIREMENTS}); this happens once")
        for cmd in pcx_venv_recipe(venv):
            try:
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            except (OSError, subprocess.TimeoutExpired) as err:
                return None, f"making the PCX venv failed at {' '.join(cmd)}: {err}"
            if done.returncode != 0:
                tail = " ".join((done.stderr or done.stdout).split()[-40:])
                return None, f"making the PCX venv failed at {' '.join(cmd)}: {tail}"
        how = f"made venv {venv} from {PCX_REQUIREMENTS.name}"
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"the PCX venv {venv} does not run: {err}"
    if done.returncode != 0:
        return None, f"the PCX venv {venv} cannot import pcx: {done.stderr.strip()[-300:]}"
    versions = done.stdout.split()
    if versions[:1] != [PCX_VERSION]:
        return None, f"the venv {venv} has pcx {versions[:1]}, the benchmark pins {PCX_VERSION}"
    return str(python), f"{how} (pcx {versions[0]}, jax {versions[1]})"


def run_pcx(python: str, spec: dict, workdir: Path, timeout: float = 3600,
            script: Path = PCX_SCRIPT) -> dict[str, Any]:
    """One PCX harness process (`script`: pcx_mlp.py or pcx_vgg.py); its JSON line, or
    {"error": why}."""
    spec_path = workdir / f"pcx_spec_{spec['name']}.json"
    spec_path.write_text(json.dumps(spec))
    start = time.perf_counter()
    try:
        done = subprocess.run([python, str(script), str(spec_path)], capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - start
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-500:]}"}
    out = json.loads(lines[-1])
    out["process_wall_s"] = wall
    return out


def save_pcx_weights(params: list[np.ndarray], path: Path) -> None:
    """pcdiag W_l is (in, out) with mu = f(x @ W + b); the PCX npz wants (out, in)."""
    arrays = {}
    for i in range(len(params) // 2):
        arrays[f"W{i + 1}"] = np.ascontiguousarray(params[2 * i].T)
        arrays[f"b{i + 1}"] = params[2 * i + 1]
    np.savez(path, **arrays)


def save_pcx_vgg_weights(params, path: Path) -> None:
    """pcdiag's VGG params (one {"w", "b"} per layer: HWIO conv kernels, then the linear layer
    on the (H, W, C)-flattened last node) as pcx_vgg.py wants them: OIHW kernels and the linear
    weight (out, in) over PCX's (C, H, W) flattening."""
    arrays = {}
    *convs, last = params
    for i, p in enumerate(convs, start=1):
        arrays[f"W{i}"] = np.ascontiguousarray(np.asarray(p["w"]).transpose(3, 2, 0, 1))
        arrays[f"b{i}"] = np.asarray(p["b"])
    w = np.asarray(last["w"])
    channels = np.asarray(convs[-1]["w"]).shape[-1]
    side = int(round((w.shape[0] // channels) ** 0.5))
    chw = w.reshape(side, side, channels, -1).transpose(2, 0, 1, 3).reshape(w.shape[0], -1)
    arrays[f"W{len(params)}"] = np.ascontiguousarray(chw.T)
    arrays[f"b{len(params)}"] = np.asarray(last["b"])
    np.savez(path, **arrays)


def compare_energies(ours: np.ndarray, theirs: np.ndarray) -> dict[str, Any]:
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    if ours.shape != theirs.shape:
        return {"ok": False, "why": f"shapes differ: pcdiag {ours.shape}, pcx {theirs.shape}"}
    diff = np.abs(ours - theirs)
    ok = bool(np.all(diff <= ENERGY_ATOL + ENERGY_RTOL * np.abs(theirs)))
    rel = diff / np.maximum(np.abs(theirs), 1e-12)
    return {
        "ok": ok,
        "max_abs_diff": float(diff.max()),
        "max_rel_diff_nonzero": float(rel[np.abs(theirs) > 1e-8].max(initial=0.0)),
        "max_abs_diff_t0": float(diff[0].max()),
        "max_abs_diff_T": float(diff[-1].max()),
        "pcdiag_t0": ours[0].tolist(),
        "pcdiag_T": ours[-1].tolist(),
        "pcx_t0": theirs[0].tolist(),
        "pcx_T": theirs[-1].tolist(),
        "tolerance": f"|diff| <= {ENERGY_ATOL} + {ENERGY_RTOL} * |pcx|",
    }
