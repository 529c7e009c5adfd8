"""Fit a power law to the losses of your own runs and predict a larger model (numpy only).

Two forms, both fitted to log-loss (Hoffmann et al. 2022 fit log-loss too, so every point
weighs the same whatever its size):

    power        L(N) = A * N^-alpha            log L = log A - alpha log N (linear least squares)
    saturating   L(N) = E + A * N^-alpha        E is the irreducible loss (Gauss-Newton)

The uncertainty comes from the least-squares covariance s^2 (J^T J)^-1; a prediction's 95%
interval adds the residual scatter to the parameter uncertainty (delta method) and uses
Student's t with the fit's degrees of freedom, so three points give an honest, wide interval.
Fewer than three sizes, a loss that does not fall with size, or a poor fit raise `NtTuiError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nt_tui.errors import NtTuiError

#: Fewest runs of distinct sizes for a fit: two parameters need one more point to measure
#: the scatter at all.
MIN_POINTS = 3
#: The saturating form has three parameters; it is only tried ("auto") with at least two
#: degrees of freedom left.
MIN_POINTS_SATURATING = 5
#: nt-tui's threshold: below it the law leaves over a fifth of the variation in log-loss
#: unexplained, and an extrapolation from it is not worth showing.
MIN_R_SQUARED = 0.8
#: Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (NIST/SEMATECH
#: e-Handbook of Statistical Methods, table 1.3.6.7.2); the normal 1.960 beyond.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
         2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z_975 = 1.960
#: Gauss-Newton for the saturating form: iterations, and the relative change that stops it.
MAX_ITERATIONS = 200
TOLERANCE = 1e-12
#: Floors tried for E when starting the saturating fit, as shares of the smallest loss.
FLOOR_GRID = np.linspace(0.0, 0.95, 39)
FORMS = ("auto", "power", "saturating")


@dataclass(frozen=True)
class ScalingPoint:
    """One run: its parameter count and its (final or best) loss."""

    params: float
    loss: float
    label: str = ""


@dataclass(frozen=True)
class Prediction:
    """A predicted loss with its 95% prediction interval."""

    params: float
    loss: float
    low: float
    high: float


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted law: parameter values and standard errors, quality and covariance."""

    form: str
    values: dict[str, float]
    errors: dict[str, float]
    r_squared: float
    residual_sd: float
    dof: int
    points: tuple[ScalingPoint, ...]
    #: covariance of the internal parameters (E, log A, alpha) or (log A, alpha)
    covariance: np.ndarray = field(repr=False, compare=False)
    notes: tuple[str, ...] = ()

    @property
    def alpha(self) -> float:
        return self.values["alpha"]

    def formula(self) -> str:
        """The law with its fitted numbers, e.g. `L(N) = 1.52 + 41.3 * N^-0.274`."""
        body = f"{self.values['A']:.4g} * N^-{self.alpha:.3f}"
        if self.form == "saturating":
            return f"L(N) = {self.values['E']:.4g} + {body}"
        return f"L(N) = {body}"

    def predict(self, params: float) -> Prediction:
        """The loss at `params` parameters, with a 95% prediction interval for one new run."""
        if not (math.isfinite(params) and params > 0):
            raise NtTuiError(f"cannot predict at {params} parameters",
                             hint="give a positive parameter count, e.g. 1e8")
        theta, x = _internal(self), np.array([math.log(params)])
        log_loss = float(_model(self.form, theta, x)[0])
        gradient = _jacobian(self.form, theta, x)[0]
        variance = float(gradient @ self.covariance @ gradient) + self.residual_sd ** 2
        spread = t_quantile(self.dof) * math.sqrt(max(variance, 0.0))
        return Prediction(params, math.exp(log_loss), math.exp(log_loss - spread),
                          math.exp(log_loss + spread))

    def to_dict(self) -> dict:
        return {"form": self.form, "formula": self.formula(), "values": self.values,
                "errors": self.errors, "r_squared": self.r_squared,
                "residual_sd_log": self.residual_sd, "dof": self.dof,
                "points": [{"params": p.params, "loss": p.loss, "label": p.label}
                           for p in self.points],
                "notes": list(self.notes)}


def t_quantile(dof: int) -> float:
    """Two-sided 95% quantile of Student's t with `dof` degrees of freedom."""
    if dof < 1:
        return math.inf
    return T_975[dof - 1] if dof <= len(T_975) else Z_975


def fit_power_law(points: list[ScalingPoint], form: str = "auto") -> PowerLawFit:
    """Fit L(N) to `points`; `NtTuiError` for too few points or a fit not worth trusting.

    `form` is "power", "saturating" or "auto" (saturating only with at least
    MIN_POINTS_SATURATING sizes and when it beats the power law by AICc).
    """
    if form not in FORMS:
        raise NtTuiError(f"unknown fit form {form!r}", hint=f"use one of {', '.join(FORMS)}")
    points = _checked(points)
    power = _fit_power(points)
    if form == "power":
        return _accept(power)
    if form == "saturating":
        if len(points) < MIN_POINTS_SATURATING - 1:
            raise NtTuiError(
                f"the saturating law E + A*N^-alpha needs at least "
                f"{MIN_POINTS_SATURATING - 1} runs of different sizes, got {len(points)}",
                hint="add runs, or use the power form (--form power)")
        return _accept(_fit_saturating(points))
    if len(points) >= MIN_POINTS_SATURATING:
        try:
            saturating = _fit_saturating(points)
        except NtTuiError:
            saturating = None
        if saturating is not None and _aicc(saturating) < _aicc(power):
            return _accept(saturating)
    return _accept(power)


def _checked(points: list[ScalingPoint]) -> tuple[ScalingPoint, ...]:
    for point in points:
        label = point.label or f"{point.params:g} parameters"
        if not (math.isfinite(point.params) and point.params > 0):
            raise NtTuiError(f"{label}: parameter count {point.params} is not positive",
                             hint="give each run's parameter count, e.g. runs/a=2.5e6")
        if not (math.isfinite(point.loss) and point.loss > 0):
            raise NtTuiError(f"{label}: loss {point.loss} is not a positive number",
                             hint="use runs whose loss is finite (no NaN/Inf)")
    sizes = {point.params for point in points}
    if len(sizes) < MIN_POINTS:
        raise NtTuiError(
            f"a scaling fit needs runs of at least {MIN_POINTS} different model sizes, got "
            f"{len(sizes)} size(s) from {len(points)} run(s)",
            hint="train the same recipe at three or more sizes (e.g. nano, micro, tiny)")
    return tuple(sorted(points, key=lambda point: point.params))


def _arrays(points: tuple[ScalingPoint, ...]) -> tuple[np.ndarray, np.ndarray]:
    return (np.log([point.params for point in points]),
            np.log([point.loss for point in points]))


def _model(form: str, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Predicted log-loss at log-sizes `x`."""
    if form == "power":
        return theta[0] - theta[1] * x
    floor, log_a, alpha = theta
    return np.log(floor + np.exp(log_a - alpha * x))


def _jacobian(form: str, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """d(predicted log-loss) / d(theta), one row per point."""
    if form == "power":
        return np.column_stack([np.ones_like(x), -x])
    floor, log_a, alpha = theta
    term = np.exp(log_a - alpha * x)
    total = floor + term
    return np.column_stack([1.0 / total, term / total, -x * term / total])


def _internal(fit: PowerLawFit) -> np.ndarray:
    log_a, alpha = math.log(fit.values["A"]), fit.values["alpha"]
    if fit.form == "power":
        return np.array([log_a, alpha])
    return np.array([fit.values["E"], log_a, alpha])


def _finish(form: str, theta: np.ndarray, x: np.ndarray, y: np.ndarray,
            points: tuple[ScalingPoint, ...], notes: tuple[str, ...] = ()) -> PowerLawFit:
    """Quality, covariance and standard errors of parameters `theta`."""
    residuals = y - _model(form, theta, x)
    sse = float(residuals @ residuals)
    dof = len(points) - len(theta)
    spread = float(np.sum((y - y.mean()) ** 2))
    r_squared = 1.0 - sse / spread if spread > 0 else 0.0
    variance = sse / dof if dof > 0 else math.nan
    jac = _jacobian(form, theta, x)
    covariance = variance * np.linalg.pinv(jac.T @ jac)
    errors_internal = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    log_a_index = 0 if form == "power" else 1
    values = {"A": math.exp(theta[log_a_index]), "alpha": float(theta[log_a_index + 1])}
    # A = exp(log A): its standard error by the delta method.
    errors = {"A": values["A"] * float(errors_internal[log_a_index]),
              "alpha": float(errors_internal[log_a_index + 1])}
    if form == "saturating":
        values["E"], errors["E"] = float(theta[0]), float(errors_internal[0])
    return PowerLawFit(form, values, errors, r_squared, math.sqrt(variance) if dof > 0 else 0.0,
                       dof, points, covariance, notes)


def _fit_power(points: tuple[ScalingPoint, ...]) -> PowerLawFit:
    x, y = _arrays(points)
    design = _jacobian("power", np.zeros(2), x)
    theta, *_ = np.linalg.lstsq(design, y, rcond=None)
    return _finish("power", theta, x, y, points)


def _fit_saturating(points: tuple[ScalingPoint, ...]) -> PowerLawFit:
    """Start from the best floor on a grid (a linear fit each), then Gauss-Newton."""
    x, y = _arrays(points)
    smallest = float(np.exp(y.min()))
    best, best_sse = None, math.inf
    for share in FLOOR_GRID:
        floor = share * smallest
        log_a, neg_alpha = np.polyfit(x, np.log(np.exp(y) - floor), 1)[::-1]
        theta = np.array([floor, log_a, -neg_alpha])
        residuals = y - _model("saturating", theta, x)
        sse = float(residuals @ residuals)
        if sse < best_sse:
            best, best_sse = theta, sse
    theta = _gauss_newton(best, x, y, upper_floor=smallest)
    if theta[0] <= 0 or theta[0] >= smallest:
        raise NtTuiError(
            "the saturating law found no irreducible loss between 0 and the smallest loss",
            hint="use the power form (--form power): these runs do not show a floor yet")
    return _finish("saturating", theta, x, y, points)


def _gauss_newton(theta: np.ndarray, x: np.ndarray, y: np.ndarray,
                  upper_floor: float) -> np.ndarray:
    """Damped Gauss-Newton on the saturating form, E kept inside [0, upper_floor)."""
    damping = 1e-3
    residuals = y - _model("saturating", theta, x)
    sse = float(residuals @ residuals)
    for _ in range(MAX_ITERATIONS):
        jac = _jacobian("saturating", theta, x)
        normal = jac.T @ jac
        step = np.linalg.solve(normal + damping * np.diag(np.diag(normal) + 1e-12),
                               jac.T @ residuals)
        candidate = theta + step
        candidate[0] = min(max(candidate[0], 0.0), upper_floor * (1 - 1e-9))
        new_residuals = y - _model("saturating", candidate, x)
        new_sse = float(new_residuals @ new_residuals)
        if not math.isfinite(new_sse) or new_sse > sse:
            damping *= 10
            if damping > 1e10:
                break
            continue
        converged = sse - new_sse <= TOLERANCE * max(sse, 1e-300)
        theta, residuals, sse, damping = candidate, new_residuals, new_sse, damping / 10
        if converged:
            break
    return theta


def _aicc(fit: PowerLawFit) -> float:
    """Small-sample Akaike information criterion of a least-squares fit (Burnham & Anderson,
    Model Selection and Multimodel Inference, 2002, eq. 2.14): lower is better."""
    n, k = len(fit.points), len(fit.values) + 1  # + the residual variance
    if n - k - 1 <= 0:
        return math.inf
    sse = max(fit.residual_sd ** 2 * fit.dof, 1e-300)
    return n * math.log(sse / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def _accept(fit: PowerLawFit) -> PowerLawFit:
    """Refuse fits that would mislead: loss not falling with size, or a poor fit."""
    if fit.alpha <= 0:
        raise NtTuiError(
            f"the loss does not fall as the model grows (fitted exponent alpha = "
            f"{fit.alpha:.3f}), so no power law describes these runs",
            hint="compare runs trained with the same data, recipe and token budget, each "
                 "long enough to converge")
    if fit.r_squared < MIN_R_SQUARED:
        raise NtTuiError(
            f"bad fit: the {fit.form} law explains only {fit.r_squared:.0%} of the variation "
            f"in log-loss (needs {MIN_R_SQUARED:.0%})",
            hint="fit runs that share data, recipe and tokenizer and differ only in size, "
                 "each trained long enough; or add runs")
    return fit
