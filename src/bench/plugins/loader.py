"""Find every component once per process: ``bench``'s own modules, then installed plugins.

A built-in is a module of ``bench.detectors`` or ``bench.models`` that defines
``register(registry)`` (found by reading the sources: ``builtin_modules``); a plugin is an entry
point of the group ``bench.plugins`` (pytest's and MLflow's way) naming a module with the same
function. A plugin that fails to import or register is named with its distribution and error,
and the rest still load.

This runs before Hydra composes a config (it needs the options dataclasses, the config
schemas), on every start-up, ``bench --help`` included: the modules that register are light
(their options, assets and requirements; the factories import torch, ONNX Runtime, MediaPipe...
when called), and the other modules of those packages, the backends, are not imported at all.
"""

from __future__ import annotations

import ast
import importlib
import logging
import pkgutil
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType

from bench.config import register_configs
from bench.detectors.registry import detector_schemas
from bench.plugins.registry import PluginRegistry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "bench.plugins"
#: Packages whose modules hold the built-in components.
BUILTIN_PACKAGES = ("bench.detectors", "bench.models")


@dataclass(frozen=True)
class PluginFailure:
    entry_point: str
    distribution: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.entry_point!r} of {self.distribution} was not loaded: {self.error}"


@dataclass
class LoadedPlugins:
    failures: list[PluginFailure] = field(default_factory=list)
    #: Hydra search paths the plugins asked for.
    config_paths: list[str] = field(default_factory=list)


_LOADED: LoadedPlugins | None = None


def load_plugins() -> LoadedPlugins:
    """Register the built-ins and every installed plugin (once; later calls return the same),
    then store the config schemas of everything registered in Hydra's ConfigStore."""
    global _LOADED
    if _LOADED is None:
        loaded = LoadedPlugins()
        for module in _builtin_modules():
            _register(module, PluginRegistry())
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            _load_entry_point(entry_point, loaded)
        register_configs(detector_schemas())
        _LOADED = loaded
    return _LOADED


def builtin_modules() -> list[str]:
    """The modules of ``BUILTIN_PACKAGES`` (one level down) whose source defines ``register`` at
    its top level: found by reading them, so that a new method needs no list to join, and
    without importing them, as importing every module would import every backend."""
    found = []
    for package_name in BUILTIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__, f"{package_name}."):
            spec = info.module_finder.find_spec(info.name, None)  # type: ignore[call-arg]
            if spec is not None and spec.origin and _defines_register(Path(spec.origin)):
                found.append(info.name)
    return found


def _defines_register(source: Path) -> bool:
    tree = ast.parse(source.read_text(), filename=str(source))
    return any(isinstance(node, ast.FunctionDef) and node.name == "register" for node in tree.body)


def _builtin_modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in builtin_modules()]


def _register(module: ModuleType, registry: PluginRegistry) -> PluginRegistry:
    module.register(registry)
    registry.commit()
    return registry


def _load_entry_point(entry_point: EntryPoint, loaded: LoadedPlugins) -> None:
    distribution = entry_point.dist.name if entry_point.dist is not None else entry_point.value
    try:
        module = entry_point.load()
        if not callable(getattr(module, "register", None)):
            raise TypeError(f"{entry_point.value} has no register(registry) function")
        registry = _register(module, PluginRegistry(source=distribution))
    except Exception as error:  # a broken plugin must not take the others down with it
        failure = PluginFailure(entry_point.name, distribution, f"{type(error).__name__}: {error}")
        log.warning("%s", failure)
        loaded.failures.append(failure)
        return
    loaded.config_paths.extend(registry.config_paths)
