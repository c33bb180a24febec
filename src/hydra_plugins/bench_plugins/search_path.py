"""Puts every installed ``bench`` plugin's YAML folders on Hydra's config search path.

Hydra discovers ``SearchPathPlugin`` classes in the ``hydra_plugins`` namespace; this one asks
``bench.plugins`` which folders the loaded plugins declared (``registry.configs("pkg://...")``),
so ``python -m bench detector=<theirs>`` works with no ``hydra.searchpath`` flag. Hydra runs it
for every app in the environment: it acts only when the primary configs are bench's.
"""

from __future__ import annotations

from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


def _is_bench(search_path: ConfigSearchPath) -> bool:
    from bench.paths import project_root

    conf = project_root() / "conf"
    return any(
        element.provider == "main" and Path(element.path.removeprefix("file://")) == conf
        for element in search_path.get_path()
    )


class BenchPluginsSearchPath(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if not _is_bench(search_path):
            return
        from bench.plugins import load_plugins  # only when Hydra composes bench's config

        for path in load_plugins().config_paths:
            search_path.append(provider="bench-plugin", path=path)
