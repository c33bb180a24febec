"""The library and torch.hub entry points return the published models with their weights."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from bench.models import VARIANTS, create_embedder, create_model
from bench.paths import project_root


def test_torch_hub_lists_and_loads_every_variant_from_a_checkout() -> None:
    # torch.hub.list reads only GitHub repositories: the local hubconf is read as torch.hub loads it.
    spec = importlib.util.spec_from_file_location("hubconf", project_root() / "hubconf.py")
    assert spec is not None and spec.loader is not None
    hubconf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubconf)
    assert {name for name in dir(hubconf) if callable(getattr(hubconf, name))} >= set(VARIANTS)
    model = torch.hub.load(str(project_root()), "edgeface_xs_gamma_06", source="local", trust_repo=True)
    reference = create_model("edgeface_xs_gamma_06")
    for (name, ours), theirs in zip(model.state_dict().items(), reference.state_dict().values(), strict=True):
        assert torch.equal(ours, theirs), name
    assert not model.training


def test_the_hub_model_embeds_as_the_benchmark_does() -> None:
    """The same faces through the hub model (with EdgeFace's input scaling) and the Embedder."""
    faces = np.random.default_rng(0).integers(0, 256, (4, 112, 112, 3), dtype=np.uint8)
    model = create_model("edgeface_xs_gamma_06")
    x = (torch.from_numpy(faces).permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    with torch.inference_mode():
        ours = torch.nn.functional.normalize(model(x), dim=1).numpy()
    theirs = create_embedder({"name": "edgeface_xs_gamma_06"}, backend="torch").embed(faces)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_an_unknown_name_lists_the_published_ones_and_untrained_needs_no_weights() -> None:
    with pytest.raises(
        ValueError, match="unknown EdgeFace model 'edgeface_huge'; published: edgeface_xs_gamma_06"
    ):
        create_model("edgeface_huge")
    untrained = create_model("edgeface_base", pretrained=False)
    assert sum(p.numel() for p in untrained.parameters()) > 18_000_000


def test_the_hub_embedder_serves_any_family_by_name() -> None:
    embedder = torch.hub.load(
        str(project_root()), "embedder", name="edgeface_xs_gamma_06", source="local", trust_repo=True
    )
    faces = np.random.default_rng(1).integers(0, 256, (2, 112, 112, 3), dtype=np.uint8)
    np.testing.assert_allclose(
        embedder.embed(faces), create_embedder({"name": "edgeface_xs_gamma_06"}).embed(faces)
    )
