"""Built-in and installed components, found at start-up.

A plugin is a distribution with an entry point in the group ``bench.plugins`` that names a
module; that module's ``register(registry)`` adds its detectors, recognition families and
assets through ``PluginRegistry``, and may put its own YAML folders on Hydra's search path.
``bench``'s own methods and models are registered the same way, module by module.
"""

from bench.plugins.loader import ENTRY_POINT_GROUP, PluginFailure, load_plugins
from bench.plugins.registry import PluginRegistry

__all__ = ["ENTRY_POINT_GROUP", "PluginFailure", "PluginRegistry", "load_plugins"]
