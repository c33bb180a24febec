"""Hydra finds this package by scanning the ``hydra_plugins`` namespace (its plugin discovery)."""
