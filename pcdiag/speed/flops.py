"""Matmul FLOPs: counted from a compiled program's optimized HLO (dot and convolution ops,
loop bodies times their trip counts), counted by hand for a pc (or bp) training step of an MLP
or a VGG, and both for pcdiag's chunk."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from pcdiag.speed.programs import compiled_chunk

_SHAPE = re.compile(r"([a-z]+[0-9]*)\[([0-9,]*)\]")
_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([^\s(]+)\s*\(")
_INSTRUCTION = re.compile(r"^\s+(?:ROOT\s+)?%([^\s=]+)\s*=\s*(.*)$")
_CALLEES = re.compile(
    r"\b(calls|to_apply|body|condition|true_computation|false_computation)=%([^\s,)}]+)"
)
_CALLEE_LISTS = re.compile(r"\b(branch_computations|called_computations)=\{([^}]*)\}")
_TRIP = re.compile(r'"known_trip_count"\s*:\s*\{\s*"n"\s*:\s*"?(\d+)')
_DIMS = re.compile(r"\b(lhs_contracting_dims|lhs_batch_dims)=\{([0-9,]*)\}")
_GEMM_DIMS = re.compile(r'"lhs_contracting_dimensions"\s*:\s*\[([^\]]*)\]')
_DIM_LABELS = re.compile(r"\bdim_labels=([a-z0-9]+)_([a-z0-9]+)->([a-z0-9]+)")
_GROUPS = re.compile(r"\b(feature_group_count|batch_group_count)=(\d+)")


@dataclass
class HloFlops:
    """Matmul FLOPs of a compiled program, from its optimized HLO text."""

    flops: float  # 2 * prod(output) * prod(contracted) per dot, times how often it runs
    dots: int  # dot-like instructions in the text (each counted once)
    loops: int  # while loops
    unknown_trip_counts: int  # while loops without a known trip count (counted once)


def _split_type(rest: str) -> tuple[str, str]:
    """'(f32[2], s32[]) while(...)' -> ('(f32[2], s32[])', 'while(...)'); also plain types."""
    rest = rest.strip()
    if rest.startswith("("):
        depth = 0
        for i, ch in enumerate(rest):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0:
                return rest[: i + 1], rest[i + 1:].strip()
    head, _, tail = rest.partition(" ")
    return head, tail.strip()


def _dims(type_text: str) -> list[int] | None:
    match = _SHAPE.search(type_text)
    if match is None:
        return None
    return [int(d) for d in match.group(2).split(",") if d]


def _operands(op_text: str) -> list[str]:
    """Top-level operand texts of 'opcode(a, b), attrs'."""
    start = op_text.find("(")
    depth, current, out = 0, [], []
    for ch in op_text[start + 1:]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if current:
        out.append("".join(current).strip())
    return out


def count_hlo_flops(hlo_text: str) -> HloFlops:
    """Matmul FLOPs of an optimized HLO module, following calls, fusions and loops.

    A ``dot`` (or a cuBLAS / oneDNN GEMM custom-call) costs 2 * prod(output dims) *
    prod(lhs contracting dims). A computation costs its own dots plus its callees': a while
    body times its ``known_trip_count``, a conditional its most expensive branch, anything
    else (fusion, call, map) once. XLA's own ``cost_analysis()`` counts a loop body once,
    which is why it is not used.
    """
    shapes: dict[str, str] = {}
    bodies: dict[str, list[tuple[str, str, str]]] = {}  # comp -> [(name, type, op_text)]
    entry, current = None, None
    for line in hlo_text.splitlines():
        comp = _COMPUTATION.match(line)
        if comp and not line.startswith(" "):
            current = comp.group(1)
            bodies[current] = []
            if line.startswith("ENTRY"):
                entry = current
            # parameters declared in the header: name: type
            for name, type_text in re.findall(r"([\w.\-]+):\s*([a-z]+[0-9]*\[[0-9,]*\])",
                                              line.split("->")[0]):
                shapes.setdefault(name, type_text)
            continue
        inst = _INSTRUCTION.match(line)
        if inst and current is not None:
            type_text, op_text = _split_type(inst.group(2))
            shapes[inst.group(1)] = type_text
            bodies[current].append((inst.group(1), type_text, op_text))
    if entry is None:
        raise ValueError("no ENTRY computation in the HLO text")

    def operand_dims(text: str) -> list[int] | None:
        dims = _dims(text.split("%")[0]) if "[" in text.split("%")[0] else None
        if dims is not None:
            return dims
        name = text.split("%")[-1].strip()
        return _dims(shapes.get(name, ""))

    dots = loops = unknown = 0
    memo: dict[str, float] = {}

    def own_flops(type_text: str, op_text: str) -> float | None:
        nonlocal dots
        opcode = op_text.split("(")[0].strip()
        if opcode == "dot":
            attrs = dict(_DIMS.findall(op_text))
            contracting = [int(d) for d in attrs.get("lhs_contracting_dims", "").split(",") if d]
            lhs = operand_dims(_operands(op_text)[0])
        elif opcode == "custom-call" and re.search(r"gemm|matmul", op_text, re.I):
            found = _GEMM_DIMS.search(op_text)
            if found is None:
                return None
            contracting = [int(d.strip(' "')) for d in found.group(1).split(",") if d.strip()]
            lhs = operand_dims(_operands(op_text)[0])
        elif opcode == "convolution" or (opcode == "custom-call" and "conv" in op_text.lower()
                                          and _DIM_LABELS.search(op_text)):
            return conv_flops(type_text, op_text)
        else:
            return None
        out = _dims(type_text)
        if lhs is None or out is None:
            return None
        dots += 1
        return 2.0 * math.prod(out) * math.prod(lhs[d] for d in contracting)

    def conv_flops(type_text: str, op_text: str) -> float | None:
        # 2 x (output elements) x (kernel elements per output feature): the kernel's window
        # and input-feature dims ("01io": 3 x 3 x C_in), over feature groups
        nonlocal dots
        labels = _DIM_LABELS.search(op_text)
        rhs = operand_dims(_operands(op_text)[1]) if labels else None
        out = _dims(type_text)
        if labels is None or rhs is None or out is None:
            return None
        groups = dict(_GROUPS.findall(op_text))
        per_output = math.prod(d for d, label in zip(rhs, labels.group(2)) if label != "o")
        dots += 1
        return (2.0 * math.prod(out) * per_output / int(groups.get("feature_group_count", 1))
                / int(groups.get("batch_group_count", 1)))

    def total(comp: str) -> float:
        nonlocal loops, unknown
        if comp in memo:
            return memo[comp]
        memo[comp] = 0.0  # guards against cycles
        flops = 0.0
        for _, type_text, op_text in bodies.get(comp, []):
            own = own_flops(type_text, op_text)
            if own is not None:
                flops += own
            opcode = op_text.split("(")[0].strip()
            callees = dict(_CALLEES.findall(op_text))
            lists = [
                [c.strip().lstrip("%") for c in group.split(",") if c.strip()]
                for _, group in _CALLEE_LISTS.findall(op_text)
            ]
            if opcode == "while":
                loops += 1
                trip = _TRIP.search(op_text)
                if trip is None:
                    unknown += 1
                n = int(trip.group(1)) if trip else 1
                flops += n * total(callees["body"])
            elif opcode == "conditional":
                branches = [c for group in lists for c in group] or [
                    callees[k] for k in ("true_computation", "false_computation") if k in callees
                ]
                flops += max((total(b) for b in branches), default=0.0)
            else:
                for key, callee in callees.items():
                    if key != "condition":
                        flops += total(callee)
                for group in lists:
                    flops += sum(total(c) for c in group)
        memo[comp] = flops
        return flops

    flops = total(entry)
    return HloFlops(flops, dots, loops, unknown)


def layer_flops(net, batch: int) -> list[float]:
    """Matmul FLOPs of each layer's prediction for a batch, layer 1 first: an MLP's
    2 B n_in n_out; a VGG conv's 2 B (conv side)^2 (3 x 3 x C_in) C_out, its linear output
    layer's 2 B n_in n_out."""
    if hasattr(net, "blocks"):  # a VGG
        flops, c_in = [], net.input_shape[-1]
        for block, (conv_side, _) in zip(net.blocks, net._sides()):
            flops.append(2.0 * batch * conv_side * conv_side * 9 * c_in * block.channels)
            c_in = block.channels
        return [*flops, 2.0 * batch * math.prod(net.node_shapes[-2]) * net.n_out]
    sizes = list(net.sizes)
    return [2.0 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:])]


def pc_step_flops_of(mm: list[float], T: int) -> float:
    """Hand count of one pc training step from the layers' matmul FLOPs `mm` (no
    recomputation shared).

    Forward initialisation (every layer once); T inference steps, each predicting layers
    2..L from the free states and back-propagating to them (2 matmuls per layer 2..L); the
    weight step: forward through all L layers, dW for all L, and dx for layers 2..L.
    """
    first, rest = mm[0], sum(mm[1:])
    return (first + rest) + T * 2 * rest + (first + rest) * 2 + rest


def bp_step_flops_of(mm: list[float]) -> float:
    """One backprop step: forward through all layers, dW for all, dx for layers 2..L."""
    return 2 * sum(mm) + sum(mm[1:])


def pc_step_flops(sizes: list[int], batch: int, T: int) -> float:
    """Hand count of one pc training step of an MLP with node sizes `sizes`."""
    return pc_step_flops_of([2.0 * batch * a * b for a, b in zip(sizes[:-1], sizes[1:])], T)


def chunk_flops(cfg, data) -> dict[str, Any]:
    """Matmul FLOPs per training step of pcdiag's compiled chunk (HLO count, hand count)."""
    compiled, length, net = compiled_chunk(cfg, data)
    counted = count_hlo_flops(compiled.as_text())
    try:
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        xla_flops = float(cost.get("flops", float("nan")))
    except Exception:  # not every backend has it
        xla_flops = float("nan")
    mm = layer_flops(net, cfg.batch_size)
    hand = (bp_step_flops_of(mm) if cfg.algorithm == "bp"
            else pc_step_flops_of(mm, cfg.inference_steps))
    return {
        "hlo_flops_per_step": counted.flops / length,
        "hand_flops_per_step": hand,
        "hlo_over_hand": counted.flops / length / hand,
        "xla_cost_analysis_flops_per_step": xla_flops / length,
        "hlo_dots": counted.dots,
        "hlo_loops": counted.loops,
        "hlo_unknown_trip_counts": counted.unknown_trip_counts,
        "chunk_steps": length,
    }

