"""The machine the speed benchmark runs on: backend, devices, CPU, load, and a reference
matmul rate."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

from pcdiag.engine.compile_options import compiler_options


def backend() -> str:
    """JAX's default backend: "cpu", "gpu", "tpu"."""
    return jax.default_backend()


def device_info() -> dict[str, Any]:
    dev = jax.devices()[0]
    info = {
        "jax": jax.__version__,
        "platform": dev.platform,
        "device": str(dev),
        "device_kind": getattr(dev, "device_kind", None),
        "devices": [str(d) for d in jax.devices()],
        "python": platform.python_version(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "hostname": platform.node(),
        # a persistent compilation cache would make the "compile included" numbers warm
        "compilation_cache_dir": jax.config.jax_compilation_cache_dir,
        "xla_flags": os.environ.get("XLA_FLAGS"),
        # what pcdiag's programs and the plain-JAX step compile with (compile_options)
        "compiler_options": compiler_options(),
    }
    return info


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def matmul_throughput(n: int = 2048, rounds: int = 5, budget_s: float = 0.5) -> dict[str, Any]:
    """Median GFLOP/s of a jitted n x n f32 matmul on random data (rounds of back-to-back calls)."""
    ka, kb = jax.random.split(jax.random.PRNGKey(1))
    a = jax.random.normal(ka, (n, n), jnp.float32)
    b = jax.random.normal(kb, (n, n), jnp.float32)
    f = jax.jit(jnp.matmul)
    f(a, b).block_until_ready()
    start = time.perf_counter()
    f(a, b).block_until_ready()
    one = max(time.perf_counter() - start, 1e-6)
    reps = max(1, min(1000, int(budget_s / one)))
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(reps):
            c = f(a, b)
        c.block_until_ready()
        rates.append(2.0 * n**3 * reps / (time.perf_counter() - start) / 1e9)
    return {"n": n, "reps_per_round": reps, "gflops_rounds": rates,
            "gflops": statistics.median(rates)}

