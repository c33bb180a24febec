"""What a plugin module's ``register(registry)`` receives: the one door to every registry.

Entries are staged and land together once ``register`` returns, so a plugin that fails half-way
leaves nothing of itself behind; each carries the distribution that registered it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bench.alignment.template import Template, register_template
from bench.assets import Asset, register_asset
from bench.detectors.registry import register_detector
from bench.models.registry import ModelFamily, register_family
from bench.registry import BUILTIN_SOURCE


@dataclass
class PluginRegistry:
    #: The distribution registering (``bench`` for the built-ins).
    source: str = BUILTIN_SOURCE
    _staged: list[Callable[[], Any]] = field(default_factory=list)
    #: Hydra config search paths (``pkg://package.conf``) holding the plugin's YAML groups.
    config_paths: list[str] = field(default_factory=list)

    def asset(self, asset: Asset) -> None:
        """A weights or data file the resolver can find by name (and download, with a URL)."""
        self._staged.append(lambda: register_asset(asset))

    def detector(self, *args: Any, **kwargs: Any) -> None:
        """A method of the ``detector`` group: the arguments of
        ``bench.detectors.registry.register_detector`` (name, factory, options dataclass,
        requirements; for a face source that detects nothing, its ``source``). Registering runs
        at every start-up: a factory that imports its backend when called
        (``bench.registry.Lazy("my_plugin.backend:MyDetector")``) keeps it light."""
        self._staged.append(partial(register_detector, *args, origin=self.source, **kwargs))

    def model_family(self, family: ModelFamily) -> None:
        """A recognition family and the model names (``model`` group choices) it serves."""
        self._staged.append(lambda: register_family(family, origin=self.source))

    def template(self, template: Template) -> None:
        """An alignment template that ``model.template`` (or a family's native one) can name."""
        self._staged.append(lambda: register_template(template, origin=self.source))

    def configs(self, search_path: str) -> None:
        """A config folder of the plugin's package, e.g. ``pkg://my_plugin.conf`` holding
        ``detector/<name>.yaml`` and ``model/<name>.yaml``: on Hydra's search path, no flag."""
        self.config_paths.append(search_path)

    def commit(self) -> None:
        for stage in self._staged:
            stage()
        self._staged.clear()
