"""Entry point: ``python -m bench`` / ``bench``, a Hydra application over ``conf/``."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from bench.config import register_configs
from bench.paths import project_root

# Interpolations that the YAML configs use: paths that do not move with Hydra's run dirs.
OmegaConf.register_new_resolver("project_root", lambda: str(project_root()), replace=True)
register_configs()


@hydra.main(version_base="1.3", config_path=str(project_root() / "conf"), config_name="config")
def main(cfg: DictConfig) -> float:
    from bench.experiment import run_experiment  # heavy imports after Hydra parsed the command line

    return run_experiment(cfg)
