"""The f-divergence registry: closed forms against Monte Carlo, conjugates against a grid supremum,
the alpha family's limits and special cases, numerical safety, and the errors on bad input."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from fdunlearn.theory import divergences as D

CLOSED = ["kl", "reverse_kl", "jeffreys", "hellinger", "pearson_chi2", "neyman_chi2", "total_variation"]
ALPHAS = [-1.0, 0.3, 0.5, 2.0, 3.0]
EVERY = [(n, {}) for n in [*CLOSED, "jensen_shannon"]] + [("alpha", {"alpha": a}) for a in ALPHAS]


def _id(case: tuple[str, dict]) -> str:
    name, params = case
    return f"{name}{params.get('alpha', '')}"


def test_names_and_api():
    assert D.names() == ["kl", "reverse_kl", "jeffreys", "hellinger", "pearson_chi2", "neyman_chi2",
                         "total_variation", "jensen_shannon", "alpha"]
    for name, params in EVERY:
        div = D.get(name, **params)
        u = torch.tensor([0.5, 1.0, 2.0])
        for out in (div.f(u), div.conjugate(torch.tensor([-0.1, 0.0, 0.1])), div.activation(u)):
            assert out.shape == u.shape


# ----------------------------------------------------------------------------- generators
@pytest.mark.parametrize("case", EVERY, ids=_id)
def test_generator_is_convex_and_vanishes_at_one(case):
    div = D.get(case[0], **case[1])
    assert float(div.f(torch.tensor(1.0, dtype=torch.float64))) == pytest.approx(0.0, abs=1e-12)
    u = torch.logspace(-3, 3, 2001, dtype=torch.float64)
    fu = div.f(u)
    # convexity: chords lie above the graph on a non-uniform grid (slopes are non-decreasing)
    slopes = (fu[1:] - fu[:-1]) / (u[1:] - u[:-1])
    assert bool((slopes[1:] - slopes[:-1] >= -1e-9 * (1 + slopes[1:].abs())).all())


# ----------------------------------------------------------------------------- closed forms vs Monte Carlo
# (name, params, deltas): the chi^2-like members have heavy-tailed f(p/q) under q (E_q[(p/q)^k] =
# exp(k(k-1) delta/2)), so their Monte Carlo variance is finite only for small delta.
MC_CASES = [
    *[(n, {}, (0.25, 1.0, 4.0)) for n in ["kl", "reverse_kl", "jeffreys", "hellinger", "total_variation"]],
    ("pearson_chi2", {}, (0.1, 0.4)), ("neyman_chi2", {}, (0.1, 0.4)),
    ("alpha", {"alpha": 0.5}, (0.25, 1.0, 4.0)), ("alpha", {"alpha": 0.3}, (0.25, 1.0, 4.0)),
    ("alpha", {"alpha": -1.0}, (0.1, 0.4)), ("alpha", {"alpha": 2.0}, (0.1, 0.4)),
    ("alpha", {"alpha": 3.0}, (0.05, 0.15)),
]
GEOMETRIES = [(1, 1.0), (3, 0.5), (10, 2.0)]  # (dimension, sigma)


@functools.cache
def _log_ratios(delta: float, dim: int, sigma: float, n: int, seed: int) -> torch.Tensor:
    """log p(x)/q(x) for x ~ q, p = N(mu_1, s^2 I), q = N(mu_2, s^2 I), ||mu_1 - mu_2||^2 / s^2 = delta."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(dim, generator=gen, dtype=torch.float64)
    mu_1 = 0.3 + direction / direction.norm() * math.sqrt(delta) * sigma
    mu_2 = torch.full((dim,), 0.3, dtype=torch.float64)
    x = mu_2 + sigma * torch.randn(n, dim, generator=gen, dtype=torch.float64)
    return (((x - mu_2) ** 2).sum(1) - ((x - mu_1) ** 2).sum(1)) / (2 * sigma**2)


def _monte_carlo(div: D.FDivergence, delta: float, dim: int, sigma: float, n: int, seed: int):
    """Mean and standard error of f(p(x)/q(x)) over n samples x ~ q."""
    values = div.f(torch.exp(_log_ratios(delta, dim, sigma, n, seed)))
    return float(values.mean()), float(values.std() / math.sqrt(n))


@pytest.mark.parametrize("dim,sigma", GEOMETRIES)
@pytest.mark.parametrize("name,params,deltas", MC_CASES, ids=[_id(c[:2]) for c in MC_CASES])
def test_closed_form_matches_monte_carlo(name, params, deltas, dim, sigma):
    div = D.get(name, **params)
    for delta in deltas:
        mc, se = _monte_carlo(div, delta, dim, sigma, n=100_000, seed=dim)
        closed = float(div.gaussian(torch.tensor(delta, dtype=torch.float64)))
        # 5 standard errors: a false alarm has probability ~6e-7 per check for a Gaussian mean
        assert abs(mc - closed) < 5 * se, (name, params, delta, dim, sigma, mc, closed, se)


def test_monte_carlo_check_has_power():
    """The same check rejects the unlearning paper's convention 1 - exp(-delta/8) for the f-GAN generator."""
    div = D.get("hellinger")
    mc, se = _monte_carlo(div, 1.0, 3, 0.5, n=200_000, seed=7)
    assert abs(mc - float(div.gaussian(torch.tensor(1.0)))) < 5 * se
    assert abs(mc - (1 - math.exp(-1 / 8))) > 50 * se


def test_jensen_shannon_has_no_closed_form_but_quadrature_matches_monte_carlo():
    div = D.get("jensen_shannon")
    assert not div.has_closed_form
    with pytest.raises(NotImplementedError, match="no closed form"):
        div.gaussian(torch.tensor(1.0))
    for delta in (0.25, 1.0, 4.0):
        mc, se = _monte_carlo(div, delta, 3, 1.0, n=200_000, seed=11)
        assert abs(mc - D.gaussian_quadrature(div, delta)) < 5 * se
    # the f-GAN generator gives KL(P||M) + KL(Q||M) = 2 JSD, bounded by 2 log 2
    assert 0 < D.gaussian_quadrature(div, 400.0) <= 2 * math.log(2) + 1e-9
    assert D.gaussian_quadrature(div, 400.0) == pytest.approx(2 * math.log(2), rel=1e-3)


@pytest.mark.parametrize("case", [c for c in EVERY if c[0] != "jensen_shannon"], ids=_id)
def test_closed_form_matches_quadrature(case):
    div = D.get(case[0], **case[1])
    for delta in (0.01, 0.5, 2.0, 9.0):
        closed = float(div.gaussian(torch.tensor(delta, dtype=torch.float64)))
        assert D.gaussian_quadrature(div, delta) == pytest.approx(closed, rel=1e-6, abs=1e-9)


def test_named_closed_forms():
    d = torch.tensor([0.0, 0.3, 2.0, 30.0], dtype=torch.float64)
    g = {n: D.get(n).gaussian(d) for n in CLOSED}
    torch.testing.assert_close(g["kl"], d / 2)
    torch.testing.assert_close(g["reverse_kl"], d / 2)
    torch.testing.assert_close(g["jeffreys"], d)
    torch.testing.assert_close(g["hellinger"], 2 * (1 - torch.exp(-d / 8)))
    torch.testing.assert_close(g["pearson_chi2"], torch.exp(d) - 1)
    torch.testing.assert_close(g["neyman_chi2"], torch.exp(d) - 1)
    torch.testing.assert_close(g["total_variation"], torch.special.erf(d.sqrt() / (2 * math.sqrt(2))))


# ----------------------------------------------------------------------------- conjugates
U_GRID = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-8, 8, 40_001, dtype=torch.float64)])


@pytest.mark.parametrize("case", EVERY, ids=_id)
def test_conjugate_is_the_supremum_on_a_grid(case):
    """f*(t) = sup_{u >= 0} (t u - f(u)) for t = g_f(v), v in [-4, 4] (points inside dom f*)."""
    div = D.get(case[0], **case[1])
    t = div.activation(torch.linspace(-4, 4, 33, dtype=torch.float64))
    fu = div.f(U_GRID)
    finite = torch.isfinite(fu)
    u, fu = U_GRID[finite], fu[finite]
    grid_sup = (t[:, None] * u[None, :] - fu[None, :]).max(dim=1).values
    exact = div.conjugate(t)
    # u = 1 is on the grid (TV's kink); the spacing is 9.2e-4 relative, so the grid misses the supremum by
    # at most f''(u*) (u* 4.6e-4)^2 / 2, below 1e-5 for every member at these t
    tol = 1e-5 * (1 + exact.abs())
    assert bool((grid_sup <= exact + tol).all()), (grid_sup - exact).max()
    assert bool((exact - grid_sup <= tol).all()), (exact - grid_sup).max()


def test_pearson_conjugate_is_exact_below_minus_two():
    """Nowozin et al. quote t + t^2/4 for every t; on u >= 0 the supremum below t = -2 is -f(0) = -1."""
    div = D.get("pearson_chi2")
    t = torch.tensor([-6.0, -3.0, -2.0, 0.0, 3.0], dtype=torch.float64)
    expected = torch.tensor([-1.0, -1.0, -1.0, 0.0, 5.25], dtype=torch.float64)
    torch.testing.assert_close(div.conjugate(t), expected)


@pytest.mark.parametrize("name,params,outside", [
    ("reverse_kl", {}, 0.5), ("hellinger", {}, 2.0), ("neyman_chi2", {}, 1.5), ("total_variation", {}, 0.7),
    ("jensen_shannon", {}, 1.0), ("alpha", {"alpha": 0.5}, 2.5), ("alpha", {"alpha": -1.0}, 0.6),
])
def test_conjugate_is_infinite_outside_its_domain_without_nan_gradients(name, params, outside):
    div = D.get(name, **params)
    assert math.isinf(float(div.conjugate(torch.tensor([outside]))))
    inside = torch.tensor([-0.2], requires_grad=True)
    div.conjugate(inside).sum().backward()
    assert torch.isfinite(inside.grad).all()


@pytest.mark.parametrize("case", EVERY, ids=_id)
def test_activation_maps_into_the_domain(case):
    div = D.get(case[0], **case[1])
    v = torch.linspace(-20, 20, 401, dtype=torch.float64)
    assert torch.isfinite(div.conjugate(div.activation(v))).all()


# ----------------------------------------------------------------------------- the alpha family
def test_alpha_limits_are_kl_and_reverse_kl():
    u = torch.logspace(-2, 2, 50, dtype=torch.float64)
    d = torch.tensor([0.1, 1.0, 5.0], dtype=torch.float64)
    kl, rkl = D.get("kl"), D.get("reverse_kl")
    for eps in (1e-6, -1e-6):
        near_one, near_zero = D.get("alpha", alpha=1 + eps), D.get("alpha", alpha=eps)
        # f_alpha differs from the limits by a multiple of (u - 1), which integrates to 0 under q
        torch.testing.assert_close(near_one.f(u), kl.f(u) - (u - 1), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(near_zero.f(u), rkl.f(u) + (u - 1), rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(near_one.gaussian(d), kl.gaussian(d), rtol=1e-4, atol=1e-8)
        torch.testing.assert_close(near_zero.gaussian(d), rkl.gaussian(d), rtol=1e-4, atol=1e-8)


def test_alpha_special_cases():
    u = torch.logspace(-2, 2, 50, dtype=torch.float64)
    d = torch.tensor([0.1, 1.0, 5.0], dtype=torch.float64)
    half, two, minus_one = D.get("alpha", alpha=0.5), D.get("alpha", alpha=2), D.get("alpha", alpha=-1)
    hel, pearson, neyman = D.get("hellinger"), D.get("pearson_chi2"), D.get("neyman_chi2")
    torch.testing.assert_close(half.f(u), 2 * hel.f(u))
    torch.testing.assert_close(half.gaussian(d), 4 * (1 - torch.exp(-d / 8)))  # 4 (1 - BC) = 2 x hellinger
    torch.testing.assert_close(two.f(u), pearson.f(u) / 2)
    torch.testing.assert_close(two.gaussian(d), pearson.gaussian(d) / 2)
    torch.testing.assert_close(minus_one.f(u), neyman.f(u) / 2)
    torch.testing.assert_close(minus_one.gaussian(d), neyman.gaussian(d) / 2)


# ----------------------------------------------------------------------------- numerical safety
@pytest.mark.parametrize("name,params", [("pearson_chi2", {}), ("neyman_chi2", {}), ("alpha", {"alpha": 3.0}),
                                         ("alpha", {"alpha": -2.0})])
def test_exponential_closed_forms_never_overflow(name, params):
    div = D.get(name, **params)
    d = torch.tensor([1.0, 50.0, 500.0, 1e5], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="max_exponent"):
        value = div.gaussian(d)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(d.grad).all()
    assert bool((value[1:] > value[:-1]).all()) and bool((d.grad > 0).all())
    assert math.isinf(float(div.gaussian(torch.tensor(500.0), max_exponent=math.inf)))  # the plain formula


def test_safe_expm1_is_exact_below_the_cap_and_continuous_above():
    x = torch.tensor([-3.0, 0.0, 10.0, 39.999], dtype=torch.float64)
    torch.testing.assert_close(D.safe_expm1(x, 40.0), torch.expm1(x))
    with pytest.warns(RuntimeWarning):
        just_above = D.safe_expm1(torch.tensor(40.0 + 1e-9, dtype=torch.float64), 40.0)
    assert float(just_above) == pytest.approx(math.expm1(40.0), rel=1e-8)


def test_total_variation_gradient_is_finite_at_zero():
    d = torch.tensor([0.0, 1.0], requires_grad=True)
    D.get("total_variation").gaussian(d).sum().backward()
    assert torch.isfinite(d.grad).all()


# ----------------------------------------------------------------------------- bad input
def test_unknown_name_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"'kld'.*accepted: kl, reverse_kl, jeffreys, hellinger"):
        D.get("kld")


@pytest.mark.parametrize("alpha", [0, 1, 1.0, math.nan, math.inf, "half", None])
def test_invalid_alpha(alpha):
    with pytest.raises(ValueError, match=r"alpha=.*accepted: any finite real except 0 and 1"):
        D.get("alpha", alpha=alpha)


def test_parameters_are_checked():
    with pytest.raises(ValueError, match="exactly one parameter alpha"):
        D.get("alpha")
    with pytest.raises(ValueError, match="'kl' takes no parameters"):
        D.get("kl", alpha=0.5)


def test_tables_render():
    table = D.closed_form_table([0.1, 1.0, 100.0])
    assert "no closed form" in table and "alpha=0.5" in table
    assert D.latex_table().count("\n") == len(D.names()) + 1
