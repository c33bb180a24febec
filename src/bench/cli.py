"""Entry point: ``python -m bench`` / ``bench``, a Hydra application over ``conf/``."""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from bench.paths import project_root
from bench.plugins import load_plugins
from bench.run_folders import claim_folder
from bench.signals import Terminated


def prepare() -> None:
    """What composing a config needs, before Hydra composes anything (idempotent): the
    interpolations the YAML uses (paths that do not move with Hydra's run dirs, each run's own
    folder, a data set named after its file), and every component, built-in or plugin, with its
    config schema."""
    OmegaConf.register_new_resolver("project_root", lambda: str(project_root()), replace=True)
    # Cached: a run claims one folder however often Hydra reads its run dir (bench.run_folders).
    OmegaConf.register_new_resolver(
        "claim_folder", lambda wanted: str(claim_folder(str(wanted))), use_cache=True, replace=True
    )
    OmegaConf.register_new_resolver("path_stem", lambda path: Path(str(path)).stem, replace=True)
    load_plugins()


def compose_config(overrides: Sequence[str] = (), config_name: str = "config") -> DictConfig:
    """``conf/<config_name>.yaml`` with ``overrides`` as its Hydra app composes it: for the tools
    that take the benchmark's overrides (``bench export``, ``bench verify``) and for the tests."""
    from hydra import compose, initialize_config_dir

    from bench.config import check_integer_overrides

    prepare()
    with initialize_config_dir(config_dir=str(project_root() / "conf"), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides))
    check_integer_overrides(cfg, overrides)
    return cfg


@hydra.main(version_base="1.3", config_path=str(project_root() / "conf"), config_name="config")
def app(cfg: DictConfig) -> float:
    from bench.experiment import run_experiment  # heavy imports after Hydra parsed the command line

    # A launcher's worker process (joblib, Slurm) gets this function, not the module's set-up.
    prepare()
    return run_experiment(cfg)


#: ``bench <tool> ...``: commands beside the benchmark, each a module with ``main(argv)``.
TOOLS = {
    "flops": "bench.flops",
    "export": "bench.export",
    "verify": "bench.verify",
    "train": "bench.train",
    "list": "bench.listing",
    "isa": "bench.isa",
    "tune": "bench.calibrate",
}


def main() -> None:
    """Run the application (or ``bench <tool>``, see ``TOOLS``); SIGTERM or Ctrl-C (the run
    already ended KILLED) end an open sweep's parent run KILLED too, with its report, and exit
    128 + the signal's number."""
    if len(sys.argv) > 1 and sys.argv[1] in TOOLS:
        import importlib

        importlib.import_module(TOOLS[sys.argv[1]]).main(sys.argv[2:])
        return
    prepare()
    try:
        app()
    except (KeyboardInterrupt, Terminated) as stop:
        from bench.tracking.sweep import end_open_sweep

        number = signal.SIGINT if isinstance(stop, KeyboardInterrupt) else signal.SIGTERM
        end_open_sweep(stopped_by=f"stopped by signal {number.name}")
        print(f"bench: stopped by signal {number.name}", file=sys.stderr)
        sys.exit(128 + number)
