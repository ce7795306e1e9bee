"""The targets the speed benchmark checks (PASS or FAIL) and the printed report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    name: str
    minimum: float  # the measured ratio must be >= minimum
    what: str


TARGETS = {
    "speed_vs_pcx:mlp3-128": Target("speed_vs_pcx:mlp3-128", 1.5,
                                    "pcdiag (full recording) / PCX samples/s, [784,128,128,10]"),
    "speed_vs_pcx:mlp3-1024": Target("speed_vs_pcx:mlp3-1024", 1.5,
                                     "pcdiag (full recording) / PCX samples/s, [784,1024,1024,10]"),
    "speed_vs_pcx:mlp21-128": Target("speed_vs_pcx:mlp21-128", 1.2,
                                     "pcdiag (full recording) / PCX samples/s, depth 21"),
    "speed_vs_pcx:vgg5-128": Target("speed_vs_pcx:vgg5-128", 1.5,
                                    "pcdiag (full recording) / PCX samples/s, VGG-5 (PCX's)"),
    "speed_vs_pcx:vgg5-32": Target("speed_vs_pcx:vgg5-32", 1.5,
                                   "pcdiag (full recording) / PCX samples/s, VGG-5 channels/4"),
    "matmul_efficiency:mlp3-1024": Target("matmul_efficiency:mlp3-1024", 0.8,
                                          "achieved matmul FLOP/s / large-matmul FLOP/s, "
                                          "[784,1024,1024,10], full recording"),
    "sweep_speedup": Target("sweep_speedup", 2.0,
                            "8 sequential pcdiag.train / one 8-gamma pcdiag.sweep, wall time"),
}
#: Recording on may cost at most this fraction of throughput against recording off.
RECORDING_COST_MAX = 0.05
#: Against the plain-JAX reference (pcdiag.speed.reference): full recording within 10 % of
#: it (with the norms every step, and every NORMS_EVERY-th: "cadence"), recording off at or
#: above it.
REFERENCE_TARGETS = {"full": 0.9, "cadence": 0.9, "off": 1.0}


def evaluate_targets(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    models = result["models"]
    for name in ("mlp3-128", "mlp3-1024", "mlp21-128", "vgg5-128", "vgg5-32"):
        m = models.get(name)
        target = TARGETS[f"speed_vs_pcx:{name}"]
        if m is None:
            continue
        pcx = m.get("pcx", {})
        if "samples_per_s" in pcx:  # with rounds: the median of each round's ratio
            ratio = m.get("full_over_pcx",
                          m["pcdiag_full"]["samples_per_s"] / pcx["samples_per_s"])
            rows.append(_row(target, ratio))
        else:
            rows.append(_row(target, None, "PCX unavailable"))
    m = models.get("mlp3-1024")
    if m is not None:
        rows.append(_row(TARGETS["matmul_efficiency:mlp3-1024"],
                         m["pcdiag_full"]["matmul_efficiency"]))
    for name, m in models.items():
        cost = m["pcdiag_off"]["samples_per_s"] / m["pcdiag_full"]["samples_per_s"] - 1.0
        rows.append({"target": f"recording_cost:{name}", "what":
                     "throughput lost to full recording: off / full - 1",
                     "value": cost, "limit": f"<= {RECORDING_COST_MAX:.2f}",
                     "status": "PASS" if cost <= RECORDING_COST_MAX else "FAIL"})
    for name, m in models.items():
        for side, minimum in REFERENCE_TARGETS.items():
            ratio = m.get(f"{side}_over_reference")
            if ratio is not None:
                rows.append(_row(Target(f"{side}_vs_plain_jax:{name}", minimum,
                                        f"pcdiag ({side}) / plain-JAX reference samples/s"),
                                 ratio))
    if "sweep" in result:
        rows.append(_row(TARGETS["sweep_speedup"], result["sweep"]["speedup"]))
    for name, m in models.items():
        check = m.get("reference_energy_check")
        if check is not None:
            first = check.get("first_step", {})
            rows.append({"target": f"same_energies_plain:{name}", "what":
                         "per-layer energies, first step, plain-JAX reference vs pcdiag "
                         f"(whole epoch 1: max |diff| {check.get('epoch_max_abs_diff', 0):.1e}, "
                         f"{check.get('steps_bit_identical')} of {check.get('epoch_steps')} "
                         "steps bit-identical)",
                         "value": first.get("max_abs_diff"), "limit": first.get("tolerance", ""),
                         "status": "PASS" if check["ok"] else "FAIL"})
    for name, m in models.items():
        check = m.get("energy_check")
        if check is not None:
            rows.append({"target": f"same_energies:{name}", "what":
                         "per-layer energies at t=0..T, same init and batch, pcdiag vs PCX",
                         "value": check.get("max_abs_diff"),
                         "limit": check.get("tolerance", ""),
                         "status": "PASS" if check["ok"] else "FAIL"})
    return rows


def _row(target: Target, value: float | None, why: str = "") -> dict[str, Any]:
    status = "n/a" if value is None else ("PASS" if value >= target.minimum else "FAIL")
    return {"target": target.name, "what": target.what, "value": value,
            "limit": f">= {target.minimum:g}", "status": status, "note": why}


# ---------------------------------------------------------------------------------------------
# the report


def _fmt(value, spec: str = ".0f", missing: str = "-") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def _pcx_compile(pcx: dict) -> float | None:
    value = pcx.get("compile_time_epoch_s")
    return pcx.get("compile_time_s") if value is None else value


def _norms_every(result: dict[str, Any]) -> str:
    """The cadence side's norms_every, as the models recorded it."""
    return str(next((m["norms_every"] for m in result["models"].values()
                     if "norms_every" in m), "?"))


def format_report(result: dict[str, Any]) -> str:
    dev = result["device"]
    lines = [
        f"pcdiag speed: jax {dev['jax']} on {dev['device_kind'] or dev['platform']} "
        f"({dev['processor']}, {dev['cpu_count']} CPUs), load {dev['loadavg_start']} -> "
        f"{dev.get('loadavg_end')}",
        f"compiler options (pcdiag and plain JAX): {dev.get('compiler_options') or 'none'}",
        f"PCX: {result['pcx']['note']}",
        "",
        "throughput (samples/s, median of epochs 2..E, without eval) | compile s | GFLOP/s",
    ]
    head = (f"{'model':<10} {'pcdiag full':>11} {'cadence':>8} {'pcdiag off':>10} "
            f"{'plain JAX':>9} {'PCX':>9} {'full/plain':>10} {'cad/plain':>9} "
            f"{'off/plain':>9} {'plain/PCX':>9} "
            f"{'full/PCX':>8} {'cad/PCX':>7} {'rec cost':>8} {'compile full/off/PCX':>21} "
            f"{'GFLOP/s':>8} {'matmul':>7} {'eff':>5} {'energies':>9}")
    lines += [head, "-" * len(head),
              f"(cadence: full recording with the norms every {_norms_every(result)}th "
              "step; plain JAX: the same PC step written directly in JAX + optax, per-t "
              "energies as scan outputs; ratios with rounds: the median of each round's ratio; "
              "throughputs and the matmul rate: medians over rounds)"]
    for name, m in result["models"].items():
        full, off, pcx = m["pcdiag_full"], m["pcdiag_off"], m.get("pcx", {})
        pcx_sps = pcx.get("samples_per_s")
        ratio = m.get("full_over_pcx", full["samples_per_s"] / pcx_sps if pcx_sps else None)
        cost = off["samples_per_s"] / full["samples_per_s"] - 1
        check = m.get("energy_check")
        energies = "-" if check is None else (
            f"{'ok' if check['ok'] else 'DIFF'} {check['max_abs_diff']:.0e}")
        compile_ = (f"{_fmt(full['compile_s'], '.1f')}/{_fmt(off['compile_s'], '.1f')}/"
                    f"{_fmt(_pcx_compile(pcx), '.1f', 'n/a')}")
        cadence = m.get("pcdiag_cadence", {}).get("samples_per_s")
        lines.append(
            f"{name:<10} {full['samples_per_s']:>11.0f} {_fmt(cadence):>8} "
            f"{off['samples_per_s']:>10.0f} "
            f"{_fmt(m.get('reference', {}).get('samples_per_s'), '.0f', 'n/a'):>9} "
            f"{_fmt(pcx_sps, '.0f', 'n/a'):>9} {_fmt(m.get('full_over_reference'), '.3f'):>10} "
            f"{_fmt(m.get('cadence_over_reference'), '.3f'):>9} "
            f"{_fmt(m.get('off_over_reference'), '.3f'):>9} "
            f"{_fmt(m.get('reference_over_pcx'), '.2f'):>9} {_fmt(ratio, '.2f'):>8} "
            f"{_fmt(m.get('cadence_over_pcx'), '.2f'):>7} {cost:>+8.1%} "
            f"{compile_:>21} {full['gflops']:>8.1f} {m['matmul']['gflops']:>7.1f} "
            f"{full['matmul_efficiency']:>5.0%} {energies:>9}"
        )
    for name, m in result["models"].items():
        cadence = m.get("pcdiag_cadence", {}).get("samples_per_s")
        if cadence:
            cost = cadence / m["pcdiag_full"]["samples_per_s"] - 1
            lines.append(f"  {name}: the norms at every step cost {cost:+.1%} of throughput "
                         f"against every {_norms_every(result)}th (cadence / full - 1); "
                         "Config.norms_every sets their cadence")
    for name, m in result["models"].items():
        if "pc_over_bp_time" in m or m.get("rounds", 1) > 1:
            bp = m.get("pcdiag_bp", {})
            rounds = ", ".join(f"{r:.2f}" for r in m.get("full_over_pcx_rounds", []))
            lines.append(
                f"  {name}: {m.get('rounds', 1)} rounds, full/PCX per round [{rounds}]; pcdiag "
                f"bp {_fmt(bp.get('samples_per_s'))} samples/s, PC/BP time "
                f"{_fmt(m.get('pc_over_bp_time', {}).get('pcdiag_full'), '.2f')} (full), "
                f"{_fmt(m.get('pc_over_bp_time', {}).get('pcdiag_off'), '.2f')} (off); PCX at "
                f"{_fmt(m.get('pcx', {}).get('matmul_efficiency'), '.0%')} of the matmul rate")
    lines.append("")
    lines.append("FLOPs per step: HLO count (dots x trip counts) vs hand count vs XLA "
                 "cost_analysis (loop bodies once)")
    for name, m in result["models"].items():
        f = m["flops"]
        lines.append(f"  {name:<10} HLO {f['hlo_flops_per_step'] / 1e6:9.1f} MFLOP  hand "
                     f"{f['hand_flops_per_step'] / 1e6:9.1f}  ratio {f['hlo_over_hand']:.3f}  "
                     f"cost_analysis {f['xla_cost_analysis_flops_per_step'] / 1e6:9.1f}")
    if "sweep" in result:
        sw = result["sweep"]
        lines += ["", f"sweep of {len(sw['gammas'])} gammas, {sw['epochs']} epoch, "
                  f"{sw['train_limit'] or 60000} examples, compile included: vectorised "
                  f"{sw['vectorised_s']:.1f} s, sequential {sw['sequential_s']:.1f} s, "
                  f"speed-up {sw['speedup']:.2f}x; compiled (warm): vectorised "
                  f"{sw['vectorised_warm_s']:.2f} s, sequential {sw['sequential_warm_s']:.2f} s, "
                  f"speed-up {sw['speedup_warm']:.2f}x (max test-accuracy diff "
                  f"{sw['max_test_accuracy_diff']:.4f})"]
    lines += ["", "targets:"]
    for row in result["targets"]:
        value = row["value"]
        shown = "n/a" if value is None else (f"{value:.2e}" if "energies" in row["target"]
                                             else f"{value:.3f}")
        lines.append(f"  {row['status']:<4} {row['target']:<28} {shown:>9}  {row['limit']:<10}"
                     f" {row['what']}" + (f" ({row['note']})" if row.get("note") else ""))
    return "\n".join(lines)
