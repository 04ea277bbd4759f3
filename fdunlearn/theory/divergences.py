"""The f-divergence family: generators, Fenchel conjugates, f-GAN activations, Gaussian closed forms.

An f-divergence between distributions P and Q with densities p and q is

    D_f(P || Q) = E_Q[ f(p(x) / q(x)) ],     f convex on [0, inf), f(1) = 0.

Each member of the registry carries (Nowozin, Cseke, Tomioka 2016, "f-GAN", Tables 1 and 2):

- ``f(u)``            the generator;
- ``conjugate(t)``    its Fenchel conjugate f*(t) = sup_{u >= 0} (t u - f(u)), +inf outside dom f*;
- ``activation(v)``   the output activation g_f: R -> dom f* of an f-GAN critic;
- ``gaussian(delta)`` the closed form between two Gaussians with the SAME covariance,
  N(mu_1, sigma^2 I) and N(mu_2, sigma^2 I), which depends only on
  delta = ||mu_1 - mu_2||^2 / sigma^2  (docs/derivations.md). Every closed form here is symmetric
  in P and Q, so the argument order does not matter for it.

Conventions (say them, because papers differ by constant factors):

- ``hellinger`` is the f-GAN squared Hellinger, f(u) = (sqrt(u) - 1)^2, so its closed form is
  2 (1 - exp(-delta/8)) = 2 (1 - BC). The unlearning paper (Novello et al.) writes
  H^2 = 1 - BC = 1 - exp(-delta/8), exactly half of it; the minimiser and the gradient direction are the same.
- ``alpha`` is Amari's alpha-divergence in the form f(u) = (u^a - 1 - a (u - 1)) / (a (a - 1)),
  defined for every real a other than 0 and 1 (its limits there are reverse KL and KL). Special cases:
  a = 1/2 gives 2 x ``hellinger`` = 4 (1 - BC); a = 2 gives Pearson chi^2 / 2; a = -1 gives Neyman chi^2 / 2.
- ``jensen_shannon`` uses the f-GAN generator f(u) = u log u - (u + 1) log((u + 1)/2), for which
  D_f = KL(P || M) + KL(Q || M) = 2 JSD with M = (P + Q)/2, between 0 and 2 log 2.
- conjugates are the exact conjugates of f restricted to u >= 0. Where Nowozin et al.'s table quotes the
  conjugate of the formula extended to u < 0 (Pearson chi^2: t + t^2/4 for every t; alpha > 1) ours is
  smaller below f'(0) (constant -f(0) there); both give valid lower bounds, ours the tighter one.

Numerical safety: the closed forms that grow like exp(c delta) (Pearson and Neyman chi^2, alpha outside
[0, 1]) overflow float32 once c delta > 88.7. ``gaussian`` evaluates exp(x) exactly up to
x = ``max_exponent`` (default ``EXP_CAP`` = 40, i.e. values up to 2.4e17) and continues along the tangent
line above it, so value and gradient stay finite, positive and monotone in delta; it emits a
``RuntimeWarning`` when that happens.
Pass ``max_exponent=math.inf`` for the plain formula.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

Tensor = torch.Tensor
EXP_CAP = 40.0  # exponents above this continue linearly in the closed forms (see module docstring)
LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------- numerical helpers
def safe_expm1(x: Tensor, max_exponent: float = EXP_CAP) -> Tensor:
    """exp(x) - 1 for x <= max_exponent, then its tangent line: finite value and gradient for any x."""
    if math.isinf(max_exponent):
        return torch.expm1(x)
    over = x > max_exponent
    if bool(over.any()):
        top = float(x.detach().max())
        warnings.warn(f"exponent {top:.4g} > max_exponent={max_exponent:g}: the closed form continues along "
                      f"its tangent there (no overflow, gradient capped at exp({max_exponent:g}))",
                      RuntimeWarning, stacklevel=3)
    cap = math.exp(max_exponent)
    return torch.where(over, cap * (1.0 + x - max_exponent) - 1.0, torch.expm1(x.clamp(max=max_exponent)))


def _where_domain(inside: Tensor, value: Callable[[Tensor], Tensor], t: Tensor, fill: float) -> Tensor:
    """``value(t)`` inside the domain and +inf outside, with no NaN leaking into gradients."""
    safe_t = torch.where(inside, t, torch.full_like(t, fill))
    return torch.where(inside, value(safe_t), torch.full_like(t, math.inf))


def _lambertw_exp(x: Tensor, iters: int = 8) -> Tensor:
    """W(e^x) for real x, i.e. the w > 0 with w + log w = x, by Newton's method on y = log w (float64)."""
    x64 = x.double()
    y = torch.where(x64 > 1, torch.log(x64.clamp(min=1.0) - torch.log(x64.clamp(min=1.0))), x64)
    for _ in range(iters):  # h(y) = e^y + y - x is convex increasing: Newton converges monotonically,
        # from this start to float64 precision in 6 steps on x in [-50, 200]
        y = y - (torch.exp(y) + y - x64) / (torch.exp(y) + 1.0)
    return torch.exp(y).to(x.dtype)


# ----------------------------------------------------------------------------- the divergence object
@dataclass(frozen=True)
class FDivergence:
    """One f-divergence: generator, conjugate, f-GAN activation and (maybe) a Gaussian closed form."""

    name: str
    display: str
    f_latex: str
    conjugate_latex: str
    activation_latex: str
    domain_latex: str  # dom f*
    gaussian_latex: str | None
    _f: Callable[[Tensor], Tensor] = field(repr=False)
    _conjugate: Callable[[Tensor], Tensor] = field(repr=False)
    _activation: Callable[[Tensor], Tensor] = field(repr=False)
    _gaussian: Callable[[Tensor, float], Tensor] | None = field(repr=False, default=None)
    params: dict[str, float] = field(default_factory=dict)

    def f(self, u: Tensor) -> Tensor:
        """The generator f(u), elementwise, u >= 0 (f convex, f(1) = 0)."""
        return self._f(torch.as_tensor(u))

    def conjugate(self, t: Tensor) -> Tensor:
        """Fenchel conjugate f*(t) = sup_{u>=0} (t u - f(u)), elementwise; +inf outside dom f*."""
        return self._conjugate(torch.as_tensor(t))

    def activation(self, v: Tensor) -> Tensor:
        """f-GAN output activation g_f(v), mapping any real v into dom f* (Nowozin et al. 2016, Table 2)."""
        return self._activation(torch.as_tensor(v))

    @property
    def has_closed_form(self) -> bool:
        return self._gaussian is not None

    def gaussian(self, delta: Tensor, *, max_exponent: float = EXP_CAP) -> Tensor:
        """D_f between N(mu_1, s^2 I) and N(mu_2, s^2 I) as a function of delta = ||mu_1 - mu_2||^2 / s^2.

        Elementwise in delta; see the module docstring for ``max_exponent``. Raises NotImplementedError
        where no closed form exists (Jensen-Shannon): use ``gaussian_quadrature`` or the variational bound.
        """
        if self._gaussian is None:
            raise NotImplementedError(
                f"{self.display} has no closed form between Gaussians; use "
                "fdunlearn.theory.divergences.gaussian_quadrature(...) or the variational (f-GAN) bound")
        return self._gaussian(torch.as_tensor(delta), max_exponent)

    def __str__(self) -> str:
        return "".join(f"{k}={v:g}" for k, v in self.params.items()) or self.name


# ----------------------------------------------------------------------------- the members
def _kl() -> FDivergence:
    return FDivergence(
        "kl", "KL", r"u \log u", r"e^{t-1}", r"v", r"\mathbb{R}", r"\delta/2",
        _f=lambda u: torch.xlogy(u, u),
        _conjugate=lambda t: torch.exp(t - 1.0),
        _activation=lambda v: v,
        _gaussian=lambda d, c: d / 2.0,
    )


def _reverse_kl() -> FDivergence:
    return FDivergence(
        "reverse_kl", "reverse KL", r"-\log u", r"-1 - \log(-t)", r"-e^{-v}", r"t < 0", r"\delta/2",
        _f=lambda u: -torch.log(u),
        _conjugate=lambda t: _where_domain(t < 0, lambda s: -1.0 - torch.log(-s), t, -1.0),
        _activation=lambda v: -torch.exp(-v),
        _gaussian=lambda d, c: d / 2.0,
    )


def _jeffreys() -> FDivergence:
    return FDivergence(
        "jeffreys", "Jeffreys", r"(u - 1) \log u", r"W(e^{1-t}) + 1/W(e^{1-t}) + t - 2", r"v",
        r"\mathbb{R}", r"\delta",
        _f=lambda u: (u - 1.0) * torch.log(u),
        # with w = W(e^{1-t}): the maximiser is u = 1/w, and f*(t) = w + 1/w + t - 2
        _conjugate=lambda t: (lambda w: w + 1.0 / w + t - 2.0)(_lambertw_exp(1.0 - t)),
        _activation=lambda v: v,
        _gaussian=lambda d, c: d,
    )


def _hellinger() -> FDivergence:
    return FDivergence(
        "hellinger", "squared Hellinger", r"(\sqrt{u} - 1)^2", r"t / (1 - t)", r"1 - e^{-v}", r"t < 1",
        r"2\,(1 - e^{-\delta/8})",
        _f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
        _conjugate=lambda t: _where_domain(t < 1, lambda s: s / (1.0 - s), t, 0.0),
        _activation=lambda v: -torch.expm1(-v),
        _gaussian=lambda d, c: -2.0 * torch.expm1(-d / 8.0),
    )


def _pearson() -> FDivergence:
    return FDivergence(
        "pearson_chi2", "Pearson χ²", r"(u - 1)^2", r"t + t^2/4 \ (t \geq -2), \ -1 \ (t < -2)", r"v",
        r"\mathbb{R}", r"e^{\delta} - 1",
        _f=lambda u: (u - 1.0) ** 2,
        _conjugate=lambda t: torch.where(t >= -2.0, t + t**2 / 4.0, torch.full_like(t, -1.0)),
        _activation=lambda v: v,
        _gaussian=lambda d, c: safe_expm1(d, c),
    )


def _neyman() -> FDivergence:
    return FDivergence(
        "neyman_chi2", "Neyman χ²", r"(1 - u)^2 / u", r"2 - 2\sqrt{1 - t}", r"1 - e^{-v}", r"t < 1",
        r"e^{\delta} - 1",
        _f=lambda u: (1.0 - u) ** 2 / u,
        _conjugate=lambda t: _where_domain(t < 1, lambda s: 2.0 - 2.0 * torch.sqrt(1.0 - s), t, 0.0),
        _activation=lambda v: -torch.expm1(-v),
        _gaussian=lambda d, c: safe_expm1(d, c),
    )


def _total_variation() -> FDivergence:
    def gaussian(d: Tensor, c: float) -> Tensor:
        pos = d > 0  # sqrt has an infinite slope at 0: keep the gradient finite (zero) there
        root = torch.where(pos, torch.sqrt(torch.where(pos, d, torch.ones_like(d))), torch.zeros_like(d))
        return torch.special.erf(root / (2.0 * math.sqrt(2.0)))

    return FDivergence(
        "total_variation", "total variation", r"\tfrac12 \lvert u - 1 \rvert", r"t",
        r"\tfrac12 \tanh v", r"\lvert t \rvert \leq \tfrac12",
        r"\operatorname{erf}\!\big(\sqrt{\delta}/(2\sqrt2)\big)",
        _f=lambda u: 0.5 * torch.abs(u - 1.0),
        # below t = -1/2 the supremum over u >= 0 sits at u = 0 and equals -f(0) = -1/2
        _conjugate=lambda t: _where_domain(t <= 0.5, lambda s: s.clamp(min=-0.5), t, 0.0),
        _activation=lambda v: 0.5 * torch.tanh(v),
        _gaussian=gaussian,
    )


def _jensen_shannon() -> FDivergence:
    return FDivergence(
        "jensen_shannon", "Jensen-Shannon", r"u \log u - (u + 1) \log\frac{u + 1}{2}", r"-\log(2 - e^t)",
        r"\log 2 - \log(1 + e^{-v})", r"t < \log 2", None,
        _f=lambda u: torch.xlogy(u, u) - torch.xlogy(u + 1.0, (u + 1.0) / 2.0),
        _conjugate=lambda t: _where_domain(t < LOG2, lambda s: -torch.log(2.0 - torch.exp(s)), t, 0.0),
        _activation=lambda v: LOG2 - torch.nn.functional.softplus(-v),
        _gaussian=None,
    )


def _alpha(alpha: float) -> FDivergence:
    a = alpha
    c = a * (1.0 - a)  # the closed form is (1 - exp(-c delta / 2)) / c
    if a < 1:
        bound = 1.0 / (1.0 - a)  # sup of f'(u) = (u^(a-1) - 1)/(a-1): dom f* is t < 1/(1-a)

        def conjugate(t: Tensor) -> Tensor:
            def value(s: Tensor) -> Tensor:
                return ((1.0 + s * (a - 1.0)) ** (a / (a - 1.0)) - 1.0) / a

            return _where_domain(t < bound, value, t, 0.0)

        def activation(v: Tensor) -> Tensor:
            return bound - torch.nn.functional.softplus(-v)

        act_latex, dom_latex = r"\tfrac{1}{1-\alpha} - \log(1 + e^{-v})", r"t < \tfrac{1}{1-\alpha}"
    else:

        def conjugate(t: Tensor) -> Tensor:  # below f'(0) = -1/(a-1) the sup sits at u = 0: -f(0) = -1/a
            return ((1.0 + t * (a - 1.0)).clamp(min=0.0) ** (a / (a - 1.0)) - 1.0) / a

        def activation(v: Tensor) -> Tensor:
            return v

        act_latex, dom_latex = "v", r"\mathbb{R}"

    def gaussian(d: Tensor, cap: float) -> Tensor:
        if c > 0:
            return -torch.expm1(-c * d / 2.0) / c
        return safe_expm1(-c * d / 2.0, cap) / -c

    return FDivergence(
        "alpha", f"α={a:g}", r"\frac{u^\alpha - 1 - \alpha(u - 1)}{\alpha(\alpha - 1)}",
        r"\frac{(1 + t(\alpha - 1))_+^{\alpha/(\alpha-1)} - 1}{\alpha}", act_latex, dom_latex,
        r"\frac{1 - e^{-\alpha(1-\alpha)\delta/2}}{\alpha(1-\alpha)}",
        _f=lambda u: (u**a - 1.0 - a * (u - 1.0)) / (a * (a - 1.0)),
        _conjugate=conjugate,
        _activation=activation,
        _gaussian=gaussian,
        params={"alpha": a},
    )


_REGISTRY: dict[str, Callable[..., FDivergence]] = {
    "kl": _kl,
    "reverse_kl": _reverse_kl,
    "jeffreys": _jeffreys,
    "hellinger": _hellinger,
    "pearson_chi2": _pearson,
    "neyman_chi2": _neyman,
    "total_variation": _total_variation,
    "jensen_shannon": _jensen_shannon,
    "alpha": _alpha,
}


def names() -> list[str]:
    """The registered divergence names, in display order."""
    return list(_REGISTRY)


def get(name: str | FDivergence, **params: float) -> FDivergence:
    """The divergence called ``name``; ``alpha`` needs ``alpha=`` (any real number except 0 and 1).

    Raises ValueError naming the bad value and the accepted ones for an unknown name, a missing,
    unexpected or invalid parameter.
    """
    if isinstance(name, FDivergence):
        if params:
            raise ValueError(f"parameters {sorted(params)} given together with a built divergence {name}")
        return name
    if name not in _REGISTRY:
        raise ValueError(f"unknown divergence {name!r}; accepted: {', '.join(_REGISTRY)}")
    if name != "alpha":
        if params:
            raise ValueError(f"divergence {name!r} takes no parameters, got {sorted(params)}; "
                             "only 'alpha' takes one (alpha=...)")
        return _REGISTRY[name]()
    if set(params) != {"alpha"}:
        raise ValueError(f"divergence 'alpha' takes exactly one parameter alpha=..., got {sorted(params)}")
    alpha = params["alpha"]
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise ValueError(f"alpha={alpha!r} is not a number; accepted: any finite real except 0 and 1"
                         ) from None
    if not math.isfinite(alpha) or alpha in (0.0, 1.0):
        raise ValueError(f"alpha={alpha!r} is not allowed; accepted: any finite real except 0 and 1 "
                         "(the limits alpha -> 0 and alpha -> 1 are 'reverse_kl' and 'kl')")
    return _alpha(alpha)


# ----------------------------------------------------------------------------- checks and tables
def gaussian_quadrature(div: FDivergence, delta: float, n: int = 20_001) -> float:
    """E_Q[f(p/q)] between two equal-covariance Gaussians at ``delta``, by 1-D quadrature (float64).

    The density ratio only varies along mu_1 - mu_2, so the integral is one-dimensional:
    q = N(0, 1), p = N(sqrt(delta), 1) on that line. Works for any member, with or without a closed
    form (Jensen-Shannon); meant for moderate delta (say <= 50).
    """
    gap = math.sqrt(float(delta))
    half = 15.0 + (2.0 + abs(div.params.get("alpha", 1.0))) * gap
    x = torch.linspace(-half, half, n, dtype=torch.float64)
    log_q = -0.5 * x**2 - 0.5 * math.log(2 * math.pi)
    log_ratio = gap * x - 0.5 * gap**2
    integrand = torch.exp(log_q) * div.f(torch.exp(log_ratio))
    integrand = torch.nan_to_num(integrand, nan=0.0)  # 0 * inf far in the tails of q
    return float(torch.trapezoid(integrand, x))


def closed_form_table(deltas: list[float], members: list[str | FDivergence] | None = None) -> str:
    """A plain-text table of every closed form at the given deltas (float64, 6 significant digits)."""
    members = members or [*names()[:-1], get("alpha", alpha=0.5), get("alpha", alpha=2.0)]
    divs = [get(m) for m in members]
    head = f"{'divergence':<18}" + "".join(f"{'delta=' + format(d, 'g'):>14}" for d in deltas)
    rows = [head]
    d = torch.tensor(deltas, dtype=torch.float64)
    for div in divs:
        if div.has_closed_form:
            cells = "".join(f"{v:>14.6g}" for v in div.gaussian(d, max_exponent=math.inf).tolist())
        else:
            cells = f"{'(no closed form)':>14}"
        rows.append(f"{div!s:<18}" + cells)
    return "\n".join(rows)


def latex_table(members: list[str | FDivergence] | None = None) -> str:
    """A Markdown table of f, f*, dom f*, g_f and the Gaussian closed form, for display in a notebook."""
    members = members or names()
    lines = [r"| divergence | $f(u)$ | $f^*(t)$ | $\mathrm{dom}\, f^*$ | $g_f(v)$ "
             r"| closed form in $\delta$ |",
             "|---|---|---|---|---|---|"]
    for m in members:
        div = _alpha(0.5) if m == "alpha" else get(m)
        label = r"$\alpha$ ($\alpha \neq 0, 1$)" if div.name == "alpha" else div.display
        gauss = f"${div.gaussian_latex}$" if div.gaussian_latex else "none (variational only)"
        if div.name == "alpha":  # the activation depends on the side of 1
            act = r"$\tfrac{1}{1-\alpha} - \log(1+e^{-v})$ if $\alpha<1$; $v$ if $\alpha>1$"
            dom = r"$t < \tfrac{1}{1-\alpha}$ if $\alpha<1$; $\mathbb{R}$ if $\alpha>1$"
        else:
            act, dom = f"${div.activation_latex}$", f"${div.domain_latex}$"
        lines.append(f"| {label} | ${div.f_latex}$ | ${div.conjugate_latex}$ | {dom} | {act} | {gauss} |")
    return "\n".join(lines)
