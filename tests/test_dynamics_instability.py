"""eos.dynamics.to_instability: GD to the first iterate with S >= 2/eta (App. D.3).

A tiny float32 MLP on random images; the reference is a plain GD loop with the dense top
eigenvalue (``jax.hessian`` + ``eigh``) at every step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eos import dynamics as dyn
from eos.data import Dataset
from eos.objective import Objective, build

LR = 0.25
KW = dict(lr=LR, max_spacing=8, progress=False)  # one compilation for every call below


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(0)
    ds = Dataset(
        inputs=rng.normal(size=(16, 2, 2, 3)).astype(np.float32),
        labels=rng.integers(0, 4, size=16).astype(np.int32),
        num_classes=4,
        name="random",
    )
    obj, p0 = build("mlp", ds, "mse", width=6, depth=2)
    return obj, p0


@pytest.fixture(scope="module")
def reference(net):
    """Dense sharpness of every plain float32 GD iterate up to the first one with S >= 2/LR."""
    obj, p = net
    grad = jax.jit(obj.grad)
    top = jax.jit(lambda q: jnp.linalg.eigh(jax.hessian(obj.fn)(q.astype(jnp.float64)))[0][-1])
    path, S = [p], [float(top(p))]
    while S[-1] < 2 / LR:
        path.append(path[-1] - jnp.float32(LR) * grad(path[-1]))
        S.append(float(top(path[-1])))
        assert len(path) < 500
    return path, S


def test_first_unstable_iterate_to_one_step(net, reference):
    obj, p0 = net
    path, S = reference
    res = dyn.to_instability(obj, p0, max_steps=1000, **KW)
    assert res.reached and res.step == len(path) - 1
    assert S[-2] < 2 / LR <= S[-1]
    np.testing.assert_allclose(res.params, np.asarray(path[-1]), rtol=1e-5, atol=1e-6)
    assert res.params.dtype == np.float32  # GD ran in the dtype of p0
    assert res.sharpness == pytest.approx(S[-1], rel=1e-4)
    h = res.history
    assert np.all(np.diff(h["step"]) > 0) and h["step"][-1] == res.step
    np.testing.assert_allclose(h["sharpness"], [S[s] for s in h["step"]], rtol=1e-4)
    # the spacing between checks shrinks as S approaches 2/eta: one step at the end
    assert h["step"][-1] - h["step"][-2] == 1
    assert len(h["step"]) < len(path)  # not every step was checked
    assert np.all((h["accuracy"] >= 0) & (h["accuracy"] <= 1))


def test_not_reached(net, reference):
    obj, p0 = net
    path, _ = reference
    res = dyn.to_instability(obj, p0, max_steps=len(path) - 3, **KW)
    assert not res.reached and res.step == len(path) - 3
    assert res.sharpness < 2 / LR


def test_resume_is_bitwise(net):
    obj, p0 = net
    states = []
    full = dyn.to_instability(obj, p0, max_steps=1000, on_checkpoint=states.append,
                              checkpoint_every=5, **KW)  # fmt: skip
    assert len(states) >= 2 and all(int(s["step"]) > 0 for s in states)
    for state in (states[0], states[-1]):
        resumed = dyn.to_instability(obj, p0, max_steps=1000, resume_from=state, **KW)
        assert resumed.step == full.step
        np.testing.assert_array_equal(resumed.params, full.params)
        np.testing.assert_array_equal(resumed.eigvec, full.eigvec)
        for k in full.history:
            np.testing.assert_array_equal(resumed.history[k], full.history[k])
    with pytest.raises(ValueError, match="different settings"):
        dyn.to_instability(obj, p0, max_steps=999, resume_from=states[0], **KW)


@pytest.mark.parametrize(
    "loss, what",
    [
        # a saddle: S = 1 < 2/eta, but GD grows like 1.5^t along p_1 and the loss explodes
        (lambda p: 0.5 * p[0] ** 2 - 0.5 * p[1] ** 2, "loss"),
        # S = 1 everywhere, the loss is NaN beyond p_0 = 1.5, which GD crosses on its way to 2
        (
            lambda p: 0.5 * jnp.sum(p**2) - 2 * p[0] + jnp.where(p[0] > 1.5, jnp.nan, 0.0),
            "non-finite",
        ),
    ],
)
def test_divergence_is_a_clear_error(loss, what):
    obj = Objective.from_function(loss)
    with pytest.raises(
        dyn.DivergenceError, match=rf"at step \d+ with (a )?{what}.*smaller learning rate"
    ) as err:
        dyn.to_instability(obj, jnp.ones(2, jnp.float32), lr=0.5, max_steps=500, progress=False)
    assert isinstance(err.value, ValueError) and err.value.step >= 1


def test_bad_arguments(net):
    obj, p0 = net
    for lr in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="lr"):
            dyn.to_instability(obj, p0, lr=lr, max_steps=10, progress=False)
    with pytest.raises(ValueError, match="max_steps"):
        dyn.to_instability(obj, p0, lr=LR, max_steps=0, progress=False)
    with pytest.raises(ValueError, match="p0"):
        dyn.to_instability(obj, np.zeros((2, 2), np.float32), lr=LR, max_steps=5, progress=False)
