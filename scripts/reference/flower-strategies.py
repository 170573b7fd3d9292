#!/usr/bin/env python3
"""Reference vectors for petfl's server strategies, computed by Flower's own strategy code.

Runs Flower's unmodified `aggregate_fit` of FedAvg, FedAvgM, FedAdagrad, FedAdam and FedYogi over
several consecutive rounds on small random float64 models and writes test-data/flower-strategies.json,
which packages/coordinator/src/run/strategy/flower-reference.test.ts replays through our strategies.
No Flower math is re-implemented here: this script only builds inputs and records what Flower returns.

Usage (scripts/reference/README.md, "Flower server strategies"):

    /usr/bin/python3 scripts/reference/flower-strategies.py /work/.mirror/adap+flower/repo \
        [--commit FDEF7AF...] [--out test-data/flower-strategies.json]

The first argument is any git directory holding Flower's history (a bare mirror or a checkout);
the script runs `git archive <commit>:framework/py/flwr` into a temporary directory and imports
from there. Only numpy (Debian's python3-numpy) is needed; everything else Flower imports at
package level but that the strategies' arithmetic never touches is replaced by inert stub modules
(see STUBBED_ROOTS), and `check_no_stub_on_strategy_path` proves the strategy code path uses none.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.machinery
import io
import json
import logging
import platform
import subprocess
import sys
import tarfile
import tempfile
import types
from pathlib import Path

import numpy as np

# Pinned so that regenerating the file without --commit reproduces the committed JSON.
DEFAULT_COMMIT = "fdef7afb1dca3030553be302366cfd285ed6632c"
SEED = 20260329
ROUNDS = 5
# Two layers, flattened in order (C order) into one vector of 17 weights.
SHAPES = [(3, 4), (5,)]

# Imported by Flower's package __init__ files (flwr, flwr.common, flwr.server, ...) but never used
# by the strategies' aggregate_fit: the gRPC/protobuf stack (including Flower's own generated
# flwr.proto modules, which need a recent protobuf runtime), the CLI and console libraries, the
# SuperLink's database layer, and small helpers. Each is replaced by an inert module whose every
# attribute is a do-nothing class.
STUBBED_ROOTS = (
    "google",  # protobuf runtime, imported by the generated flwr.proto modules
    "grpc",
    "flwr.proto",  # Flower's generated protobuf/gRPC message modules
    "typer",
    "rich",
    "typing_extensions",
    "requests",
    "Crypto",  # pycryptodome
    "click",
    "tomli",
    "tomli_w",
    "packaging",
    "pathspec",
    "sqlalchemy",
    "alembic",
    "iterators",
)


class _StubMeta(type):
    def __getattr__(cls, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (_Stub,), {})

    def __or__(cls, other: object) -> type:
        return cls

    def __ror__(cls, other: object) -> type:
        return cls

    def __getitem__(cls, key: object) -> type:
        return cls


class _Stub(metaclass=_StubMeta):
    """A do-nothing stand-in: constructible, callable, subscriptable, with any attribute."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __call__(self, *args: object, **kwargs: object) -> _Stub:
        return _Stub()

    def __getattr__(self, name: str) -> _Stub:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Stub()

    def __getitem__(self, key: object) -> _Stub:
        return _Stub()

    def __iter__(self):
        return iter(())


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> type:
        if name.startswith("__"):
            raise AttributeError(name)
        return _StubMeta(name, (_Stub,), {})


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers imports of STUBBED_ROOTS (and their submodules) with _StubModule instances."""

    def __init__(self) -> None:
        self.stubbed: list[str] = []

    def find_spec(self, fullname, path, target=None):
        if any(fullname == r or fullname.startswith(r + ".") for r in STUBBED_ROOTS):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        self.stubbed.append(spec.name)
        return _StubModule(spec.name)

    def exec_module(self, module) -> None:
        module.__path__ = []


def _is_stub(value: object) -> bool:
    return (
        isinstance(value, (_StubModule, _Stub))
        or (isinstance(value, type) and issubclass(value, _Stub))
    )


def extract_flower(git_dir: str, commit: str, into: Path) -> str:
    """`git archive <commit>:framework/py/flwr` into `into/flwr`; returns the full commit hash."""
    full = subprocess.run(
        ["git", "-C", git_dir, "rev-parse", "--verify", f"{commit}^{{commit}}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", git_dir, "archive", "--format=tar", f"{full}:framework/py/flwr"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        try:
            tar.extractall(into / "flwr", filter="data")
        except TypeError:  # Python < 3.11.4 has no extraction filters
            tar.extractall(into / "flwr")
    return full


def check_no_stub_on_strategy_path(modules: list[types.ModuleType], common_typing: types.ModuleType) -> None:
    """Fail unless every name the strategies' aggregate_fit can reach is real Flower or numpy code."""
    for module in modules:
        bad = [name for name, value in vars(module).items() if _is_stub(value)]
        if bad:
            raise SystemExit(f"{module.__name__} refers to stubbed names {bad}: the vectors would not be Flower's")
    for name in ("FitRes", "Parameters", "Status", "Code", "NDArray", "NDArrays"):
        if _is_stub(getattr(common_typing, name)):
            raise SystemExit(f"flwr.common.typing.{name} is a stub")


def flat(arrays: list[np.ndarray]) -> list[float]:
    for a in arrays:
        if a.dtype != np.float64:
            raise SystemExit(f"Flower returned {a.dtype}, expected float64")
    return [float(x) for x in np.concatenate([a.ravel() for a in arrays])]


def strategy_state(flower_strategy: object) -> dict[str, list[float]]:
    """The vectors Flower keeps between rounds, under our state's names (read, never changed)."""
    state = {}
    # FedOpt family: m_t and v_t. FedAvgM: momentum_vector, only kept when server_momentum > 0.
    for ours, theirs in (("m", "m_t"), ("v", "v_t"), ("momentum", "momentum_vector")):
        value = getattr(flower_strategy, theirs, None)
        if value is not None:
            state[ours] = flat(value)
    return state


def unflat(vector: np.ndarray) -> list[np.ndarray]:
    out, at = [], 0
    for shape in SHAPES:
        size = int(np.prod(shape))
        out.append(np.array(vector[at : at + size], dtype=np.float64).reshape(shape))
        at += size
    return out


# Each case: an id, our StrategySettings (every field, as the TypeScript side takes them), and the
# Flower class with the keyword arguments it is built with. FedAvg with a server learning rate other
# than 1 is Flower's FedAvgM with server_momentum=0 (plain FedAvg has no server learning rate).
def cases() -> list[tuple[str, dict, str, dict]]:
    def ours(name: str, eta: float, momentum: float = 0.0, b1: float = 0.0, b2: float = 0.0, tau: float = 0.0) -> dict:
        return {
            "name": name,
            "serverLearningRate": eta,
            "serverMomentum": momentum,
            "beta1": b1,
            "beta2": b2,
            "tau": tau,
        }

    return [
        ("fedavg-default", ours("fedavg", 1.0), "FedAvg", {}),
        ("fedavg-lr-0.5", ours("fedavg", 0.5), "FedAvgM", {"server_learning_rate": 0.5, "server_momentum": 0.0}),
        ("fedavgm-default", ours("fedavgm", 1.0), "FedAvgM", {}),
        ("fedavgm-momentum-0.9", ours("fedavgm", 1.0, 0.9), "FedAvgM", {"server_momentum": 0.9}),
        (
            "fedavgm-lr-0.7-momentum-0.5",
            ours("fedavgm", 0.7, 0.5),
            "FedAvgM",
            {"server_learning_rate": 0.7, "server_momentum": 0.5},
        ),
        ("fedadagrad-default", ours("fedadagrad", 0.1, tau=1e-9), "FedAdagrad", {}),
        ("fedadagrad-lr-0.3-tau-1e-3", ours("fedadagrad", 0.3, tau=1e-3), "FedAdagrad", {"eta": 0.3, "tau": 1e-3}),
        ("fedadam-default", ours("fedadam", 0.1, b1=0.9, b2=0.99, tau=1e-9), "FedAdam", {}),
        (
            "fedadam-custom",
            ours("fedadam", 0.05, b1=0.8, b2=0.95, tau=1e-4),
            "FedAdam",
            {"eta": 0.05, "beta_1": 0.8, "beta_2": 0.95, "tau": 1e-4},
        ),
        ("fedyogi-default", ours("fedyogi", 0.01, b1=0.9, b2=0.99, tau=1e-3), "FedYogi", {}),
        (
            "fedyogi-custom",
            ours("fedyogi", 0.1, b1=0.5, b2=0.9, tau=1e-2),
            "FedYogi",
            {"eta": 0.1, "beta_1": 0.5, "beta_2": 0.9, "tau": 1e-2},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("flower_git_dir", help="git directory with Flower's history (bare mirror or checkout)")
    parser.add_argument("--commit", default=DEFAULT_COMMIT)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "test-data" / "flower-strategies.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="flower-strategies-") as tmp:
        run(args.flower_git_dir, args.commit, Path(tmp), Path(args.out))


def run(flower_git_dir: str, commit: str, tmp: Path, out: Path) -> None:
    commit = extract_flower(flower_git_dir, commit, tmp)
    finder = _StubFinder()
    sys.meta_path.insert(0, finder)
    sys.path.insert(0, str(tmp))

    import flwr.common.parameter as parameter
    import flwr.common.typing as common_typing
    import flwr.server.strategy as strategy
    from flwr.server.strategy import aggregate, fedadagrad, fedadam, fedavg, fedavgm, fedopt, fedyogi

    for module in (parameter, common_typing, strategy):
        if not str(module.__file__).startswith(str(tmp)):
            raise SystemExit(f"{module.__name__} was not loaded from the extracted commit")
    check_no_stub_on_strategy_path(
        [fedavg, fedavgm, fedopt, fedadam, fedyogi, fedadagrad, aggregate, parameter], common_typing
    )
    print(f"stubbed {len(finder.stubbed)} modules under {', '.join(STUBBED_ROOTS)}", file=sys.stderr)
    # Flower logs "No fit_metrics_aggregation_fn provided" in round 1 of every case; quiet, not changed.
    logging.getLogger("flwr").setLevel(logging.ERROR)

    out_cases = []
    for index, (case_id, settings, class_name, kwargs) in enumerate(cases()):
        rng = np.random.default_rng(SEED + index)
        initial = [rng.normal(0.0, 1.0, size=shape) for shape in SHAPES]
        size = sum(int(np.prod(s)) for s in SHAPES)
        # Per-weight scales over three decades, and a drift shared by the rounds, so that the
        # adaptive rules' per-coordinate normalisation and the momentum both matter.
        scales = 10.0 ** rng.uniform(-3.0, 0.0, size=size)
        drift = rng.normal(0.0, 1.0, size=size) * scales

        flower_strategy = getattr(strategy, class_name)(
            initial_parameters=parameter.ndarrays_to_parameters(initial), **kwargs
        )
        # As Flower's Server does before round 1.
        start = flower_strategy.initialize_parameters(client_manager=None)
        current = parameter.parameters_to_ndarrays(start) if start is not None else initial

        rounds = []
        for server_round in range(1, ROUNDS + 1):
            x = np.concatenate([a.ravel() for a in current])
            clients = []
            results = []
            for _ in range(int(rng.integers(2, 5))):
                n = int(rng.integers(1, 100))
                model = x + drift + rng.normal(0.0, 0.5, size=size) * scales
                clients.append({"numExamples": n, "model": [float(v) for v in model]})
                fit_res = common_typing.FitRes(
                    status=common_typing.Status(code=common_typing.Code.OK, message="Success"),
                    parameters=parameter.ndarrays_to_parameters(unflat(model)),
                    num_examples=n,
                    metrics={},
                )
                # aggregate_fit never reads the ClientProxy half of each pair.
                results.append((None, fit_res))
            aggregated, _ = flower_strategy.aggregate_fit(server_round, results, [])
            current = parameter.parameters_to_ndarrays(aggregated)
            rounds.append(
                {
                    "serverRound": server_round,
                    "clients": clients,
                    "global": flat(current),
                    "state": strategy_state(flower_strategy),
                }
            )

        out_cases.append(
            {
                "id": case_id,
                "settings": settings,
                "flower": {"class": class_name, "kwargs": kwargs},
                "initial": flat(initial),
                "rounds": rounds,
            }
        )

    document = {
        "about": "Flower's own server strategies run over consecutive rounds; "
        "generated by scripts/reference/flower-strategies.py (scripts/reference/README.md). Do not edit.",
        "flower": {
            "repository": "https://github.com/adap/flower",
            "commit": commit,
            "path": "framework/py/flwr/server/strategy",
        },
        "python": platform.python_version(),
        "numpy": np.__version__,
        "seed": SEED,
        "dtype": "float64",
        "shapes": [list(s) for s in SHAPES],
        "stubbedModuleRoots": list(STUBBED_ROOTS),
        "cases": out_cases,
    }
    Path(out).write_text(json.dumps(document, indent=2) + "\n")
    # The repository formats JSON with Biome (number arrays filled to 120 columns); formatting here
    # keeps a regenerated file byte-identical to the committed one. Values are untouched.
    repo = Path(__file__).resolve().parents[2]
    formatted = subprocess.run(["npx", "biome", "format", "--write", str(Path(out).resolve())], cwd=repo)
    if formatted.returncode != 0:
        print(f"warning: run `npx biome format --write {out}` from the repository root", file=sys.stderr)
    print(f"wrote {out} ({len(out_cases)} cases x {ROUNDS} rounds, Flower {commit})", file=sys.stderr)


if __name__ == "__main__":
    main()
