"""Error-optimised PC (Goemaere et al. 2025): pc's step with the errors e_l as the free
variables (x_l = mu_l(x_{l-1}) + e_l), so the output error reaches every layer in one
inference step. The weight step is `epc_weight_update` (Config's docstring): pc's local one
at the final states ("local", default), that divided by min(1, gamma_s T) as in the ePC
paper's code ("local_scaled"), or jpc's gradient through the chain at fixed errors
("chain"); pcdiag.algorithms.pc.weight_grads."""

from __future__ import annotations

from functools import partial

from pcdiag.algorithms.base import Algorithm
from pcdiag.algorithms.infer import ERRORS
from pcdiag.algorithms.pc import inference_then_learning

EPC = Algorithm(
    "epc", partial(inference_then_learning, ERRORS), infers=True,
    description="inference moves the errors e_l (x_l = mu_l(x_{l-1}) + e_l); weight step: "
                "epc_weight_update (local, local_scaled, chain)",
)
