"""Puts every installed ``bench`` plugin's YAML folders on Hydra's config search path.

Hydra discovers ``SearchPathPlugin`` classes in the ``hydra_plugins`` namespace; this one asks
``bench.plugins`` which folders the loaded plugins declared (``registry.configs("pkg://...")``),
so ``python -m bench detector=<theirs>`` works with no ``hydra.searchpath`` flag.
"""

from __future__ import annotations

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


class BenchPluginsSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        from bench.plugins import load_plugins  # only when Hydra composes a config, not on its scan

        for path in load_plugins().config_paths:
            search_path.append(provider="bench-plugin", path=path)
