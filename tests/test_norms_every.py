"""Config.norms_every: the norms on every norms_every-th logged step of each epoch, NaN on
the others, and nothing else changed.

The run with a cadence is another compiled program than SHORT's (the logged steps between
two norm steps skip the norm kernels), so its records are held to tests/_tolerance.py's
bound for two programs, not to equality; which steps hold norms is exact."""

import numpy as np
import pytest

import pcdiag
from pcdiag import measures
from pcdiag.speed import settings
from tests._tiny import SHORT
from tests._tolerance import assert_runs_close, assert_steps_close, run_config

#: The variables norms_every thins (latent_grad_norm too, where the task has one).
NORMS = ("state_grad_norm", "weight_grad_norm", "weight_norm", "update_norm")


def norm_steps(ds, log_every: int, norms_every: int) -> np.ndarray:
    """Whether each logged step of `ds` is one that records norms: logged steps 0,
    norms_every, 2 norms_every, ... of each epoch (steps are counted from 0 over the run)."""
    steps_per_epoch = SHORT.steps_per_epoch
    logged_index = (ds["step"].values % steps_per_epoch) // log_every
    return logged_index % norms_every == 0


@pytest.mark.parametrize("log_every,norms_every", [(1, 3), (1, 5), (2, 2)],
                         ids=["guarded", "whole-chunks", "with-log-every"])
def test_norms_on_every_kth_logged_step_and_nothing_else_changed(short_run, log_every,
                                                                  norms_every):
    # SHORT: 10 steps an epoch, 2 epochs. (1, 3): the chunk of 12 steps is guarded (3 does
    # not divide 10); (1, 5): two whole chunks of 5; (2, 2): logged steps 0, 2, .., 8,
    # norms on 0, 4, 8 of each epoch.
    base = short_run if log_every == 1 else pcdiag.train(SHORT.replace(log_every=log_every))
    ds = pcdiag.train(SHORT.replace(log_every=log_every, norms_every=norms_every))
    assert run_config(ds)["norms_every"] == norms_every
    assert "norms_every" not in run_config(base)  # the default, omitted from the attrs
    has = norm_steps(ds, log_every, norms_every)
    per_epoch = SHORT.steps_per_epoch // log_every
    assert has.sum() == 2 * len(range(0, per_epoch, norms_every))
    for name in NORMS:  # NaN exactly off the norm steps (and where SHORT has NaN)
        finite = np.isfinite(ds[name].values)
        want = np.isfinite(base[name].values) & has.reshape(-1, *[1] * (finite.ndim - 1))
        np.testing.assert_array_equal(finite, want, err_msg=name)
        config = run_config(base)
        assert_steps_close(ds[name].isel(step=has), base[name].isel(step=has), config, name)
    others = [n for n in base.data_vars if n not in NORMS]
    assert_runs_close(ds, base, others, differ=("norms_every",))


def test_the_speed_benchmark_measures_full_recording_with_the_norms_cadence():
    model = settings.MODELS[0]
    kw = dict(epochs=2, train_limit=1280, test_limit=100, data_dir=None, seed=0)
    cadence = settings.bench_config(model, full=True, norms_every=settings.NORMS_EVERY, **kw)
    full = settings.bench_config(model, full=True, **kw)
    assert cadence == full.replace(norms_every=settings.NORMS_EVERY) and full.norms_every == 1
    assert settings.NORMS_EVERY > 1


def test_the_measures_read_the_norm_steps_only(short_run):
    # Measures that read norms (stalled layers, relaxation, the relative-update profile) must
    # not take the NaN between norm steps for divergence: on a run with a cadence they equal
    # the measures of SHORT's own run at those steps (to the two programs' bound).
    ds = pcdiag.train(SHORT.replace(norms_every=3))
    has = norm_steps(ds, 1, 3)
    base = short_run.isel(step=has)
    got, want = measures.stalled_layers(ds), measures.stalled_layers(base)
    assert np.isfinite(got.values).all()
    np.testing.assert_array_equal(got.values, want.values)
    assert measures.with_norms(ds).sizes["step"] == has.sum() == 8
    assert measures.with_norms(short_run).sizes["step"] == short_run.sizes["step"]
    left = measures.relaxation(ds)["left"]
    assert left.sizes["step"] == 8 and np.isfinite(left.isel(layer=0)).all()
    # a ratio of two norms, each within 1/B of the other program's (tests/_tolerance.py,
    # corners): within 2/B
    np.testing.assert_allclose(left.values, measures.relaxation(base)["left"].values,
                               rtol=2 / SHORT.batch_size, equal_nan=True)
    profile = measures.update_profile(ds)["profile"]
    assert np.isfinite(profile.values).all()


def test_a_single_run_is_traced_without_the_runs_axis():
    """loop.over_runs: for one run, the function sees that run's arrays (no batched dims) and
    its outputs get the runs axis back; for several, it is jax.vmap."""
    import jax
    import jax.numpy as jnp

    from pcdiag.engine.loop import over_runs

    seen = []

    def fn(state, shared):
        seen.append(state["w"].shape)
        return {"w": state["w"] * 2 + shared}, jnp.sum(state["w"])

    state, shared = {"w": jnp.arange(6.0).reshape(1, 2, 3)}, jnp.ones(3)
    out, total = jax.jit(over_runs(fn, (0, None), True))(state, shared)
    assert seen == [(2, 3)]  # traced on the run's own (2, 3) array
    want = jax.vmap(fn, in_axes=(0, None))(state, shared)
    np.testing.assert_array_equal(out["w"], want[0]["w"])
    np.testing.assert_array_equal(total, want[1])
    assert total.shape == (1,)
    two = {"w": jnp.arange(12.0).reshape(2, 2, 3)}
    out2, _ = over_runs(fn, (0, None), False)(two, shared)
    np.testing.assert_array_equal(out2["w"], two["w"] * 2 + shared)
