"""The XLA options every pcdiag program is compiled with: on a CPU, convolutions by XLA's own
multi-threaded kernels instead of YNNPACK's.

jaxlib 0.10's XLA:CPU hands each dot, each convolution and some reductions to YNNPACK (an
`ynn_fusion`; its default `xla_cpu_experimental_ynn_fusion_type`, read off the compiled
programs: individual dots and convolutions, reductions). Its dots use every core; its
convolutions run on one thread, so a conv net's step is as parallel as
XLA's scheduler can make independent convolutions run side by side. Measured on 2 cores (AMD
EPYC Zen 4, jax 0.10.2; dev/speed/README.md): a 3x3 convolution 128 x 16 x 16 x 32 -> 64,
12.3 ms on one core (YNNPACK) vs 8.7 ms on two (XLA's), its weight gradient 35.6 vs 17.6 ms;
the benchmark's VGG-5 step (channels / 4) 15% faster in one process, with no gap left to the
plain-JAX step (0.87 -> 1.01 with recording off). On one core XLA's forward convolution is
slower (15.4 vs 12.2 ms), so two such processes side by side (a figure's worker processes on
2 cores) gain nothing from it; on more cores than processes they gain most.

So on a CPU the option is that default without convolutions (the same programs as the XLA
flag `--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`). It changes which
kernel computes a convolution, so from 8 channels on (and in the ResNets already at 4) a
conv net's results round differently from those of a pcdiag that did not set it (measured
in dev/speed/README.md); an MLP's program is unchanged.
Where this jaxlib does not know the option (another version), nothing is set.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

#: the CPU option: YNNPACK's default fusions less its convolutions
CPU_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type":
               "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}


@functools.cache
def compiler_options() -> dict[str, str]:
    """The options pcdiag compiles with on this backend: CPU_OPTIONS on a CPU whose jaxlib
    accepts them (tried once, on a tiny convolution), else none."""
    if jax.default_backend() != "cpu":
        return {}
    x = jnp.zeros((1, 4, 4, 1), jnp.float32)
    try:
        jax.jit(lambda x: jax.lax.conv(x, x, (1, 1), "SAME"),
                compiler_options=CPU_OPTIONS).lower(x.reshape(1, 1, 4, 4)).compile()
    except Exception:  # an older or newer jaxlib without this option or value
        return {}
    return dict(CPU_OPTIONS)


def jit(fn, **kwargs):
    """jax.jit with pcdiag's compiler options (`compiler_options`)."""
    options = compiler_options()
    return jax.jit(fn, **kwargs, **({"compiler_options": options} if options else {}))
