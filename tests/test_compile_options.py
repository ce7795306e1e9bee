"""pcdiag.engine.compile_options: on a CPU, convolutions by XLA's own kernels (not YNNPACK's,
which run each on one thread), dots still YNNPACK's, an MLP's program unchanged; the
trainers compile with it."""

import re

import jax
import jax.numpy as jnp
import pytest

from pcdiag.algorithms import Program
from pcdiag.engine import compile_options, loop
from pcdiag.nets.conv import conv
from tests._tiny import SHORT

OPTIONS = compile_options.compiler_options()
needs_options = pytest.mark.skipif(
    not OPTIONS, reason="not a CPU, or this jaxlib has no YNNPACK fusion option")


def library_fused(hlo: str, op: str) -> int:
    """How many of the HLO's YNNPACK fusions compute an `op` (convolution, dot)."""
    bodies = {m.group(1) for m in re.finditer(
        r"fusion\(.*calls=%?([\w.\-]+).*\"kind\":\"__ynn_fusion\"", hlo)}
    count, name = 0, None
    for line in hlo.splitlines():
        head = re.match(r"^%?([\w.\-]+) .*\{\s*$", line)
        if head:
            name = head.group(1)
        elif name in bodies and f" {op}(" in line:
            count += 1
    return count


def conv_then_dot(x, w, v):
    h = jnp.tanh(conv(x, w, jnp.zeros(w.shape[-1])))
    return h.reshape(h.shape[0], -1) @ v


def optimized(fn, *args, options=True) -> str:
    jitted = compile_options.jit(fn) if options else jax.jit(fn)
    return jitted.lower(*args).compile().as_text()


@needs_options
def test_on_a_cpu_convolutions_leave_ynnpack_and_dots_stay():
    x = jnp.ones((8, 6, 6, 3))
    w, v = jnp.ones((3, 3, 3, 4)) * 0.1, jnp.ones((6 * 6 * 4, 5))
    hlo = optimized(conv_then_dot, x, w, v)
    assert " convolution(" in hlo and library_fused(hlo, "convolution") == 0
    assert library_fused(hlo, "dot") >= 1
    # and the gradient (pcdiag's CPU convolution: forward convolutions and an im2col dot)
    grad = jax.grad(lambda w: jnp.sum(conv_then_dot(x, w, v) ** 2))
    assert library_fused(optimized(grad, w), "convolution") == 0


@needs_options
def test_an_mlp_compiles_to_the_same_program_with_the_options():
    # the options are YNNPACK's default less its convolutions: without its reductions, say,
    # this program would change
    def mlp(x, w1, w2):  # dots, elementwise and reductions (the norms), as a trainer's
        h = jax.nn.hard_tanh(x @ w1)
        return jax.nn.log_softmax(h @ w2), jnp.sqrt(jnp.sum(h * h, axis=1)), jnp.sum(w1 * w1)

    args = (jnp.ones((32, 784)), jnp.ones((784, 64)) * 0.01, jnp.ones((64, 10)))
    strip = lambda text: re.sub(r", metadata=\{[^}]*\}", "", text)  # noqa: E731
    assert strip(optimized(mlp, *args)) == strip(optimized(mlp, *args, options=False))


def test_the_trainers_compile_with_the_options(monkeypatch):
    seen = []
    real = jax.jit

    def spy(fn, **kwargs):
        seen.append(kwargs.get("compiler_options"))
        return real(fn, **kwargs)

    monkeypatch.setattr(compile_options.jax, "jit", spy)
    loop.Compiled(Program.from_config(SHORT))  # its init and evaluate programs
    assert seen and all(s == (OPTIONS or None) for s in seen)


def test_without_a_usable_option_nothing_is_set(monkeypatch):
    compile_options.compiler_options.cache_clear()
    try:
        monkeypatch.setattr(compile_options, "CPU_OPTIONS",
                            {"xla_cpu_experimental_ynn_fusion_type": "NO_SUCH_FUSION_TYPE"})
        assert compile_options.compiler_options() == {}
    finally:
        monkeypatch.undo()
        compile_options.compiler_options.cache_clear()
    assert compile_options.compiler_options() == OPTIONS
