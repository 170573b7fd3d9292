#!/usr/bin/env python3
"""Reference values for petfl's differential-privacy accountant, computed by Google's own code.

Runs Google's dp_accounting (its RdpAccountant, unmodified) over a grid of Gaussian,
Poisson-subsampled Gaussian, zCDP and discrete Gaussian events, calibrates noise multipliers with
its `calibrate_dp_mechanism`, evaluates the distributed discrete Gaussian and Skellam bounds with
the papers' authors' own accounting code (google-research/federated, distributed_dp), and records
log erfc from mpmath. Writes test-data/dp-accounting.json, which
packages/core/src/privacy/accountant/dp-accounting-reference.test.ts replays. No accounting math is
re-implemented here: the script builds inputs and records what those libraries return. mpmath
evaluates the distributed discrete Gaussian's tau (which accounting_utils computes only inside
`ddgauss_epsilon`, and which the script passes to `compute_rdp_dgaussian`) and, as an independent
cross-check of the authors' code, the papers' closed forms (`paper_*`).

Usage (scripts/reference/README.md, "Differential-privacy accounting"):

    /usr/bin/python3 scripts/reference/dp-accounting.py \
        /work/.mirror/google+differential-privacy/repo \
        /work/.mirror/google-research+federated/repo \
        [--dp-commit B5B0286...] [--federated-commit A5AF8C4...] [--out test-data/dp-accounting.json]

The two arguments are git directories holding the histories of google/differential-privacy and
google-research/federated (bare mirrors or checkouts); the script `git archive`s the pinned
commits into a temporary directory and imports from there. Needs Debian's python3-numpy,
python3-scipy, python3-mpmath, python3-attr and python3-absl (dp_accounting's own dependencies;
it does not import dm-tree). The one module that is not available, `tensorflow_privacy`
(imported at the top of accounting_utils.py), is replaced by a stub described at
`make_tensorflow_privacy_stub`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import io
import json
import logging
import math
import platform
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import mpmath
import numpy as np
import scipy

# Bumped whenever the grid or the file's shape changes.
SCRIPT_VERSION = 1

# Pinned so that regenerating the file without --*-commit reproduces the committed JSON.
DEFAULT_DP_COMMIT = "b5b0286e313b64a692abfc8c528d54ef47d960a0"
DEFAULT_FEDERATED_COMMIT = "a5af8c4433c9ee2d2b1565f1bcc68c89e2000a6b"

NOISE_MULTIPLIERS = [0.5, 0.8, 1.0, 1.5, 3.0, 10.0]
SAMPLING_RATES = [1.0, 0.1, 0.01]
ROUNDS = [1, 10, 100, 1000]
DELTAS = [1e-5, 1e-6]
# get_delta is recorded for these target epsilons.
EPSILONS = [1.0, 8.0]

ZCDP_RHOS = [1e-4, 1e-3, 0.01, 0.1, 0.5, 1.0, 5.0]
ZCDP_XIS = [0.0, 0.05]
ZCDP_COUNTS = [1, 100]
DISCRETE_GAUSSIAN = [(1.0, 1.0), (5.0, 1.0), (20.0, 1.0), (5.0, 3.0), (50.0, 7.0)]  # (sigma, sensitivity)
DISCRETE_GAUSSIAN_COUNTS = [1, 50]

CALIBRATION_EPSILONS = [0.5, 1.0, 3.0, 8.0]
CALIBRATION_RATES = [1.0, 0.1, 0.01]
CALIBRATION_ROUNDS = [1, 100, 1000]
CALIBRATION_DELTA = 1e-5
CALIBRATION_TOL = 1e-9

# The authors' distributed_dp accounting evaluates RDP at integer orders only.
FEDERATED_ORDERS = list(range(2, 129)) + [256]
FEDERATED_ROUNDS = [1, 100]
FEDERATED_DELTA = 1e-5
# RDP values recorded per case, at these orders (all in FEDERATED_ORDERS).
FEDERATED_RDP_ORDERS = [2, 3, 8, 32, 128]
# (local sigma, participants n, dimension d, l2 sensitivity); l1 = l2 * min(sqrt(d), l2), as the
# authors bound the L1 norm of an integer vector (rounded_l1_norm_bound).
DDG_SIGMAS = [0.5, 0.75, 1.0, 2.0, 8.0]
DDG_PARTICIPANTS = [1, 2, 16, 256]
DDG_DIMENSIONS = [1, 64, 4096]
DDG_L2 = [1.0, 4.0]
# (per-participant Skellam parameter mu, participants n, l1, l2)
SKELLAM_MUS = [0.5, 8.0, 128.0]
SKELLAM_PARTICIPANTS = [1, 10, 100]
SKELLAM_SENSITIVITIES = [(1.0, 1.0), (64.0, 8.0), (300.0, 30.0)]

LOG_ERFC_POINTS = [
    -30.0, -6.0, -2.5, -2.0, -1.999, -1.0, -0.3, 0.0, 1e-10, 0.1, 0.5, 1.0, 1.5, 1.999, 2.0, 2.001,
    3.0, 5.0, 10.0, 26.0, 27.0, 50.0, 100.0, 1000.0, 1e6,
]  # fmt: skip


def git_archive(git_dir: str, commit: str, path: str, into: Path) -> str:
    """`git archive <commit>:<path>` into `into`; returns the full commit hash."""
    full = subprocess.run(
        ["git", "-C", git_dir, "rev-parse", "--verify", f"{commit}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", git_dir, "archive", "--format=tar", f"{full}:{path}"],
        check=True,
        capture_output=True,
    ).stdout
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        try:
            tar.extractall(into, filter="data")
        except TypeError:  # Python < 3.11.4 has no extraction filters
            tar.extractall(into)
    return full


def make_tensorflow_privacy_stub(rdp_module: types.ModuleType) -> types.ModuleType:
    """The stand-in for `tensorflow_privacy`, which accounting_utils.py imports as `tfp`.

    TensorFlow Privacy is not packaged by Debian (and pulls in TensorFlow). On the paths this script
    calls (`ddgauss_epsilon`, `skellam_epsilon` with q = 1, `compute_rdp_dgaussian`,
    `_skellam_rdp`) accounting_utils uses exactly one of its functions, `get_privacy_spent(orders,
    rdp, target_delta)`, which returns (epsilon, delta, optimal order). The stub answers it with
    dp_accounting's `compute_epsilon` at the same orders, RDP values and delta. Any other attribute
    raises, so a path that needed more of TensorFlow Privacy would fail rather than use a stub.
    """
    module = types.ModuleType("tensorflow_privacy")

    def get_privacy_spent(orders, rdp, target_eps=None, target_delta=None):
        if target_eps is not None or target_delta is None:
            raise NotImplementedError("stubbed get_privacy_spent only answers a target delta")
        eps, order = rdp_module.compute_epsilon(list(orders), list(rdp), target_delta)
        return float(eps), float(target_delta), order

    module.get_privacy_spent = get_privacy_spent

    def missing(name: str):
        raise AttributeError(f"tensorflow_privacy.{name} is not stubbed")

    module.__getattr__ = missing  # type: ignore[method-assign]
    return module


def num(x: float) -> float | None:
    """JSON has no Infinity: an infinite RDP value (an order dp_accounting excludes) is null."""
    x = float(x)
    if math.isinf(x) and x > 0:
        return None
    if not math.isfinite(x):
        raise SystemExit(f"unexpected non-finite value {x}")
    return x


def paper_tau(sigma: float, n: int) -> float:
    """Kairouz, Liu & Steinke's tau = 10 * sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k/(k+1)), in mpmath."""
    with mpmath.workdps(50):
        s = mpmath.mpf(sigma)
        return float(10 * mpmath.fsum(mpmath.exp(-2 * mpmath.pi**2 * s**2 * k / (k + 1)) for k in range(1, n)))


def paper_ddg_rdp(alpha: int, sigma: float, n: int, d: int, l1: float, l2: float) -> float:
    """The distributed discrete Gaussian RDP bound, evaluated in mpmath (cross-check only)."""
    with mpmath.workdps(50):
        tau = mpmath.mpf(paper_tau(sigma, n))
        sc = mpmath.sqrt(n) * sigma
        l2s, l1s = l2 / sc, l1 / sc
        a = mpmath.mpf(alpha)
        t1 = a / 2 * l2s**2 + tau * d
        t2 = a / 2 * (l2s**2 + 2 * l1s * tau + tau**2 * d)
        t3 = a / 2 * (l2s + mpmath.sqrt(d) * tau) ** 2
        return float(min(t1, t2, t3))


def paper_skellam_rdp(alpha: int, mu: float, n: int, l1: float, l2: float) -> float:
    """The Skellam RDP bound with variance V = 2 n mu, evaluated in mpmath (cross-check only)."""
    with mpmath.workdps(50):
        v = 2 * n * mpmath.mpf(mu)
        a = mpmath.mpf(alpha)
        return float(a * l2**2 / (2 * v) + min(((2 * a - 1) * l2**2 + 6 * l1) / (4 * v**2), 3 * l1 / (2 * v)))


def close(a: float, b: float, rel: float = 1e-12) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dp_git_dir", help="git directory with google/differential-privacy's history")
    parser.add_argument("federated_git_dir", help="git directory with google-research/federated's history")
    parser.add_argument("--dp-commit", default=DEFAULT_DP_COMMIT)
    parser.add_argument("--federated-commit", default=DEFAULT_FEDERATED_COMMIT)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "test-data" / "dp-accounting.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dp-accounting-") as tmp:
        run(args, Path(tmp))


def run(args: argparse.Namespace, tmp: Path) -> None:
    dp_commit = git_archive(args.dp_git_dir, args.dp_commit, "python/dp_accounting", tmp / "dpa")
    fed_commit = git_archive(args.federated_git_dir, args.federated_commit, "distributed_dp", tmp / "distributed_dp")
    sys.path.insert(0, str(tmp / "dpa"))

    import attr

    import dp_accounting
    from dp_accounting import mechanism_calibration
    from dp_accounting.rdp import rdp_privacy_accountant as rdp_module

    for module in (dp_accounting, rdp_module, mechanism_calibration):
        if not str(module.__file__).startswith(str(tmp)):
            raise SystemExit(f"{module.__name__} was not loaded from the extracted commit")
    dp_version = (tmp / "dpa" / "VERSION").read_text().strip().splitlines()[-1].strip()

    # dp_accounting logs (through absl) every order whose fractional-alpha series it gives up on;
    # those orders are recorded as null below. Quiet, not changed.
    logging.getLogger("absl").setLevel(logging.ERROR)

    sys.modules["tensorflow_privacy"] = make_tensorflow_privacy_stub(rdp_module)
    spec = importlib.util.spec_from_file_location("accounting_utils", tmp / "distributed_dp" / "accounting_utils.py")
    assert spec is not None and spec.loader is not None
    accounting_utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accounting_utils)

    orders = [float(a) for a in rdp_module.DEFAULT_RDP_ORDERS]

    def gaussian_event(sigma: float, q: float):
        g = dp_accounting.GaussianDpEvent(sigma)
        return g if q == 1.0 else dp_accounting.PoissonSampledDpEvent(q, g)

    def fresh():
        return dp_accounting.rdp.RdpAccountant()

    # --- Gaussian and Poisson-subsampled Gaussian: RDP curves, epsilons, deltas.
    curves, epsilons, deltas = [], [], []
    for sigma in NOISE_MULTIPLIERS:
        for q in SAMPLING_RATES:
            acc = fresh().compose(gaussian_event(sigma, q), 1)
            curves.append({"noiseMultiplier": sigma, "samplingRate": q, "rdp": [num(r) for r in acc.rdp]})
            for rounds in ROUNDS:
                acc = fresh().compose(gaussian_event(sigma, q), rounds)
                for delta in DELTAS:
                    eps, order = acc.get_epsilon_and_optimal_order(delta)
                    epsilons.append(
                        {
                            "noiseMultiplier": sigma,
                            "samplingRate": q,
                            "rounds": rounds,
                            "delta": delta,
                            "epsilon": float(eps),
                            "order": float(order),
                        }
                    )
                for eps in EPSILONS:
                    delta, order = acc.get_delta_and_optimal_order(eps)
                    deltas.append(
                        {
                            "noiseMultiplier": sigma,
                            "samplingRate": q,
                            "rounds": rounds,
                            "epsilon": eps,
                            "delta": float(delta),
                            "order": float(order),
                        }
                    )

    # --- zCDP events ((xi, rho)-zCDP: RDP xi + rho * alpha) and the central discrete Gaussian.
    zcdp = []
    for rho in ZCDP_RHOS:
        for xi in ZCDP_XIS:
            for count in ZCDP_COUNTS:
                acc = fresh().compose(dp_accounting.ZCDpEvent(rho, xi), count)
                for delta in DELTAS:
                    eps, order = acc.get_epsilon_and_optimal_order(delta)
                    zcdp.append(
                        {
                            "rho": rho,
                            "xi": xi,
                            "count": count,
                            "delta": delta,
                            "epsilon": float(eps),
                            "order": float(order),
                        }
                    )
    discrete = []
    for sigma, sensitivity in DISCRETE_GAUSSIAN:
        for count in DISCRETE_GAUSSIAN_COUNTS:
            acc = fresh().compose(dp_accounting.DiscreteGaussianDpEvent(sigma, sensitivity), count)
            for delta in DELTAS:
                eps, order = acc.get_epsilon_and_optimal_order(delta)
                discrete.append(
                    {
                        "sigma": sigma,
                        "l2Sensitivity": sensitivity,
                        "count": count,
                        "delta": delta,
                        "epsilon": float(eps),
                        "order": float(order),
                    }
                )

    # --- Mixed ledgers: several kinds of events composed in one accountant.
    composed_cases = [
        [
            ({"kind": "subsampled-gaussian", "noiseMultiplier": 1.1, "samplingRate": 0.02}, 500),
            ({"kind": "gaussian", "noiseMultiplier": 20.0}, 3),
            ({"kind": "zcdp", "rho": 0.01}, 2),
            ({"kind": "discrete-gaussian", "sigma": 30.0, "l2Sensitivity": 2.0}, 4),
        ],
        [
            ({"kind": "subsampled-gaussian", "noiseMultiplier": 0.9, "samplingRate": 0.05}, 40),
            ({"kind": "subsampled-gaussian", "noiseMultiplier": 2.5, "samplingRate": 0.3}, 60),
        ],
        [
            ({"kind": "zcdp", "rho": 0.002, "xi": 0.01}, 10),
            ({"kind": "gaussian", "noiseMultiplier": 4.0}, 25),
        ],
    ]

    def to_event(mechanism: dict):
        kind = mechanism["kind"]
        if kind == "gaussian":
            return dp_accounting.GaussianDpEvent(mechanism["noiseMultiplier"])
        if kind == "subsampled-gaussian":
            return gaussian_event(mechanism["noiseMultiplier"], mechanism["samplingRate"])
        if kind == "zcdp":
            return dp_accounting.ZCDpEvent(mechanism["rho"], mechanism.get("xi", 0.0))
        if kind == "discrete-gaussian":
            return dp_accounting.DiscreteGaussianDpEvent(mechanism["sigma"], mechanism["l2Sensitivity"])
        raise SystemExit(f"unknown kind {kind}")

    composed = []
    for events in composed_cases:
        acc = fresh()
        for mechanism, count in events:
            acc.compose(to_event(mechanism), count)
        results = []
        for delta in DELTAS:
            eps, order = acc.get_epsilon_and_optimal_order(delta)
            results.append({"delta": delta, "epsilon": float(eps), "order": float(order)})
        composed.append({"events": [{"mechanism": m, "count": c} for m, c in events], "results": results})

    # --- Calibration: the noise multiplier reaching a target epsilon (dp_accounting's brentq + bisect).
    calibration = []
    for target in CALIBRATION_EPSILONS:
        for q in CALIBRATION_RATES:
            for rounds in CALIBRATION_ROUNDS:

                def make_event(sigma: float, q: float = q, rounds: int = rounds):
                    return dp_accounting.SelfComposedDpEvent(gaussian_event(sigma, q), rounds)

                sigma = dp_accounting.calibrate_dp_mechanism(
                    fresh,
                    make_event,
                    target,
                    CALIBRATION_DELTA,
                    mechanism_calibration.ExplicitBracketInterval(0.05, 500.0),
                    tol=CALIBRATION_TOL,
                )
                eps = fresh().compose(make_event(sigma)).get_epsilon(CALIBRATION_DELTA)
                calibration.append(
                    {
                        "targetEpsilon": target,
                        "delta": CALIBRATION_DELTA,
                        "samplingRate": q,
                        "rounds": rounds,
                        "noiseMultiplier": float(sigma),
                        "epsilon": float(eps),
                    }
                )

    # --- Distributed discrete Gaussian (Kairouz, Liu & Steinke) by the authors' code.
    ddg = []
    worst_cross = 0.0
    for sigma in DDG_SIGMAS:
        for n in DDG_PARTICIPANTS:
            for d in DDG_DIMENSIONS:
                for l2 in DDG_L2:
                    l1 = l2 * min(math.sqrt(d), l2)
                    tau = paper_tau(sigma, n)
                    sc = math.sqrt(n) * sigma
                    rdp = accounting_utils.compute_rdp_dgaussian(1.0, l1 / sc, l2 / sc, tau, d, 1, FEDERATED_RDP_ORDERS)
                    for a, r in zip(FEDERATED_RDP_ORDERS, rdp):
                        p = paper_ddg_rdp(a, sigma, n, d, l1, l2)
                        worst_cross = max(worst_cross, abs(p - r) / abs(p))
                        if not close(p, float(r), 1e-12):
                            raise SystemExit(f"authors' DDG RDP {r} differs from the paper's formula {p}")
                    results = []
                    for rounds in FEDERATED_ROUNDS:
                        # gamma = 1: sensitivities and sigma are already in integer units; no rounding.
                        eps, order = accounting_utils.ddgauss_epsilon(
                            1.0, sigma, n, l2, 0.0, d, 1.0, rounds, FEDERATED_DELTA,
                            l1_sens=l1, rounding=False, orders=FEDERATED_ORDERS,
                        )  # fmt: skip
                        results.append(
                            {"rounds": rounds, "delta": FEDERATED_DELTA, "epsilon": float(eps), "order": float(order)}
                        )
                    ddg.append(
                        {
                            "sigma": sigma,
                            "participants": n,
                            "dimension": d,
                            "l1Sensitivity": l1,
                            "l2Sensitivity": l2,
                            "tau": tau,
                            "rdp": [num(r) for r in rdp],
                            "results": results,
                        }
                    )

    # --- Skellam (Agarwal, Kairouz & Liu) by the authors' code: local variance 2 mu, central 2 n mu.
    skellam = []
    for mu in SKELLAM_MUS:
        for n in SKELLAM_PARTICIPANTS:
            for l1, l2 in SKELLAM_SENSITIVITIES:
                central_var = 2.0 * n * mu
                rdp = [accounting_utils._skellam_rdp(l1, l2, central_var, 1.0, a) for a in FEDERATED_RDP_ORDERS]
                for a, r in zip(FEDERATED_RDP_ORDERS, rdp):
                    p = paper_skellam_rdp(a, mu, n, l1, l2)
                    worst_cross = max(worst_cross, abs(p - r) / abs(p))
                    if not close(p, float(r), 1e-12):
                        raise SystemExit(f"authors' Skellam RDP {r} differs from the paper's formula {p}")
                results = []
                for rounds in FEDERATED_ROUNDS:
                    eps, order = accounting_utils.skellam_epsilon(
                        1.0, math.sqrt(central_var), l2, 0.0, 1, 1.0, rounds, FEDERATED_DELTA,
                        l1_sens=l1, rounding=False, orders=FEDERATED_ORDERS,
                    )  # fmt: skip
                    results.append(
                        {"rounds": rounds, "delta": FEDERATED_DELTA, "epsilon": float(eps), "order": float(order)}
                    )
                skellam.append(
                    {
                        "mu": mu,
                        "participants": n,
                        "l1Sensitivity": l1,
                        "l2Sensitivity": l2,
                        "rdp": [num(r) for r in rdp],
                        "results": results,
                    }
                )

    # --- log erfc (the one special function the accountant implements), in mpmath at 50 digits.
    with mpmath.workdps(50):
        log_erfc = [[x, float(mpmath.log(mpmath.erfc(mpmath.mpf(x))))] for x in LOG_ERFC_POINTS]

    regenerate = (
        "/usr/bin/python3 scripts/reference/dp-accounting.py <google/differential-privacy git dir> "
        f"<google-research/federated git dir> --dp-commit {dp_commit} --federated-commit {fed_commit}"
    )
    document = {
        "about": "Reference values for packages/core/src/privacy/accountant: Google's dp_accounting (RdpAccountant, "
        "calibrate_dp_mechanism) and the distributed discrete Gaussian / Skellam authors' accounting code; "
        "generated by scripts/reference/dp-accounting.py (scripts/reference/README.md). Do not edit.",
        "scriptVersion": SCRIPT_VERSION,
        "regenerate": regenerate,
        "dpAccounting": {
            "repository": "https://github.com/google/differential-privacy",
            "commit": dp_commit,
            "path": "python/dp_accounting",
            "version": dp_version,
        },
        "distributedDp": {
            "repository": "https://github.com/google-research/federated",
            "commit": fed_commit,
            "path": "distributed_dp/accounting_utils.py",
        },
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "mpmath": mpmath.__version__,
        "attrs": attr.__version__,
        "absl": importlib.metadata.version("absl-py"),
        "stubbedModules": ["tensorflow_privacy"],
        "nullMeans": "an infinite RDP value: dp_accounting excludes that order",
        "orders": orders,
        "gaussian": {"curves": curves, "epsilons": epsilons, "deltas": deltas},
        "zcdp": zcdp,
        "discreteGaussian": discrete,
        "composed": composed,
        "calibration": {"tol": CALIBRATION_TOL, "cases": calibration},
        "federatedOrders": FEDERATED_ORDERS,
        "federatedRdpOrders": FEDERATED_RDP_ORDERS,
        "distributedDiscreteGaussian": ddg,
        "skellam": skellam,
        "specialFunctions": {"logErfc": log_erfc},
    }
    out = Path(args.out)
    out.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    # The repository formats JSON with Biome; formatting here keeps a regenerated file byte-identical
    # to the committed one. Values are untouched.
    repo = Path(__file__).resolve().parents[2]
    formatted = subprocess.run(["npx", "biome", "format", "--write", str(out.resolve())], cwd=repo)
    if formatted.returncode != 0:
        print(f"warning: run `npx biome format --write {out}` from the repository root", file=sys.stderr)
    print(
        f"wrote {out}: {len(epsilons)} Gaussian epsilons, {len(calibration)} calibrations, {len(ddg)} DDG and "
        f"{len(skellam)} Skellam cases; dp_accounting {dp_version} at {dp_commit}, distributed_dp at {fed_commit}; "
        f"authors' code vs the papers' formulas (mpmath): worst relative difference {worst_cross:.1e}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
