"""The training heads: margin logits against hand-computed values, and Partial FC against a plain
margin softmax, alone, with sampling, and sharded over two processes."""

from __future__ import annotations

import io
import math
from datetime import timedelta
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from bench.training import partial_fc
from bench.training.losses import ArcFace, CombinedMarginLoss, CosFace
from bench.training.partial_fc import PartialFC

S = 2.0


def _cosines() -> torch.Tensor:
    return torch.tensor(
        [[0.5, 0.2, -0.1], [0.3, 0.8, 0.1], [-0.2, 0.4, -0.95], [0.9, 0.7, 0.6]], dtype=torch.float64
    )


LABELS = torch.tensor([0, 1, 2, -1])


def _expected(targets: dict[int, float]) -> torch.Tensor:
    """``S * cosine`` with the given (row -> margined target) replaced."""
    expected = _cosines() * S
    for row, value in targets.items():
        expected[row, LABELS[row]] = S * value
    return expected


def test_arcface_adds_the_angle_to_the_target_only() -> None:
    logits = ArcFace(s=S, margin=0.5)(_cosines(), LABELS)
    # Row 2: acos(-0.95) + 0.5 > pi, so insightface's fallback cos(theta) - m * sin(m).
    expected = _expected(
        {
            0: math.cos(math.acos(0.5) + 0.5),
            1: math.cos(math.acos(0.8) + 0.5),
            2: -0.95 - 0.5 * math.sin(0.5),
        }
    )
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)


def test_arcface_easy_margin_leaves_obtuse_targets_alone() -> None:
    logits = ArcFace(s=S, margin=0.5, easy_margin=True)(_cosines(), LABELS)
    expected = _expected({0: math.cos(math.acos(0.5) + 0.5), 1: math.cos(math.acos(0.8) + 0.5), 2: -0.95})
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)


def test_cosface_subtracts_from_the_target_cosine() -> None:
    logits = CosFace(s=S, margin=0.4)(_cosines(), LABELS)
    torch.testing.assert_close(logits, _expected({0: 0.1, 1: 0.4, 2: -1.35}), rtol=0, atol=1e-12)


def test_combined_margin() -> None:
    logits = CombinedMarginLoss(S, 1.0, 0.3, 0.2)(_cosines(), LABELS)
    expected = _expected(
        {
            0: math.cos(math.acos(0.5) + 0.3) - 0.2,
            1: math.cos(math.acos(0.8) + 0.3) - 0.2,
            2: math.cos(math.acos(-0.95) + 0.3) - 0.2,  # just short of pi
        }
    )
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)


def test_multiplicative_margin_and_its_fallback() -> None:
    logits = CombinedMarginLoss(S, 1.5, 0.1, 0.05)(_cosines(), LABELS)
    limit = (math.pi - 0.1) / 1.5  # acos(-0.95) is past it
    expected = _expected(
        {
            0: math.cos(1.5 * math.acos(0.5) + 0.1) - 0.05,
            1: math.cos(1.5 * math.acos(0.8) + 0.1) - 0.05,
            2: -0.95 - (math.pi - limit) * math.sin(limit) - 0.05,
        }
    )
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)


def test_interclass_filtering_zeroes_close_negatives() -> None:
    logits = CombinedMarginLoss(S, 1.0, 0.0, 0.4, interclass_filtering_threshold=0.45)(_cosines(), LABELS)
    expected = _expected({0: 0.1, 1: 0.4, 2: -1.35})
    expected[0, 0] = S * 0.1  # a target above the threshold keeps its (margined) cosine
    expected[3] = torch.tensor([0.0, 0.0, 0.0])  # no target here: every cosine above 0.45 goes
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-12)


def test_margins_leave_their_input_alone_and_have_true_gradients() -> None:
    cosines = _cosines()
    ArcFace(s=S)(cosines, LABELS)
    torch.testing.assert_close(cosines, _cosines(), rtol=0, atol=0)
    interior = (_cosines() * 0.9).requires_grad_()  # away from the fallback's jump
    assert torch.autograd.gradcheck(lambda c: CombinedMarginLoss(S, 1.2, 0.3, 0.1)(c, LABELS), interior)


def test_margin_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="m2"):
        CombinedMarginLoss(64.0, 1.0, 4.0, 0.0)


def _reference_loss(
    margin: CombinedMarginLoss, embeddings: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """A plain margin softmax over every class."""
    cosine = F.linear(F.normalize(embeddings), F.normalize(weight)).clamp(-1, 1)
    return F.cross_entropy(margin(cosine, labels), labels)


def _batch(num: int, dim: int, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(num, dim, generator=generator, dtype=torch.float64)
    return embeddings, torch.randint(0, num_classes, (num,), generator=generator)


@pytest.mark.parametrize(
    "margin",
    [ArcFace(s=16.0), CosFace(s=16.0), CombinedMarginLoss(16.0, 1.0, 0.3, 0.2)],
    ids=["arcface", "cosface", "combined"],
)
def test_full_partial_fc_is_a_margin_softmax(margin: CombinedMarginLoss) -> None:
    head = PartialFC(margin, embedding_size=8, num_classes=11).double()
    embeddings, labels = _batch(12, 8, 11, seed=1)
    embeddings.requires_grad_()
    loss = head(embeddings, labels)
    loss.backward()
    weight = head.weight.detach().clone().requires_grad_()
    reference_embeddings = embeddings.detach().clone().requires_grad_()
    reference = _reference_loss(margin, reference_embeddings, weight, labels)
    reference.backward()
    torch.testing.assert_close(loss, reference, rtol=0, atol=1e-12)
    torch.testing.assert_close(embeddings.grad, reference_embeddings.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(head.weight.grad, weight.grad, rtol=0, atol=1e-12)
    assert torch.equal(head.sampled_classes, torch.arange(11))


def test_sampling_keeps_the_positives_and_trains_only_the_sample() -> None:
    margin = ArcFace(s=16.0)
    head = PartialFC(margin, embedding_size=8, num_classes=50, sample_rate=0.3, seed=3).double()
    assert head.num_sample == 15
    embeddings, labels = _batch(6, 8, 50, seed=2)
    loss = head(embeddings, labels)
    loss.backward()
    sampled = head.sampled_classes
    assert sampled.numel() == 15
    assert set(labels.tolist()) <= set(sampled.tolist())
    unsampled = torch.ones(50, dtype=torch.bool)
    unsampled[sampled] = False
    assert torch.all(head.weight.grad[unsampled] == 0)
    assert torch.all(head.weight.grad[sampled].abs().sum(dim=1) > 0)
    # The loss is the margin softmax over the sampled centres alone.
    remapped = torch.searchsorted(sampled, labels)
    reference = _reference_loss(margin, embeddings, head.weight.detach()[sampled], remapped)
    torch.testing.assert_close(loss, reference, rtol=0, atol=1e-12)


def test_more_positives_than_the_sample_keeps_them_all() -> None:
    head = PartialFC(CosFace(), embedding_size=4, num_classes=20, sample_rate=0.1)
    labels = torch.arange(0, 20, 2)  # 10 classes, 2 sampled
    head(torch.randn(10, 4), labels)
    assert torch.equal(head.sampled_classes, labels)


def test_sampling_is_reproducible_and_resumes_from_the_state_dict() -> None:
    def draws(head: PartialFC, steps: range) -> list[list[int]]:
        samples = []
        for step in steps:
            head(torch.randn(4, 8), torch.tensor([step, 1, 2, 3]))
            samples.append(head.sampled_classes.tolist())
        return samples

    uninterrupted = draws(PartialFC(ArcFace(), 8, 100, sample_rate=0.2, seed=7), range(6))
    assert draws(PartialFC(ArcFace(), 8, 100, sample_rate=0.2, seed=7), range(3)) == uninterrupted[:3]
    assert draws(PartialFC(ArcFace(), 8, 100, sample_rate=0.2, seed=8), range(3)) != uninterrupted[:3]

    first = PartialFC(ArcFace(), 8, 100, sample_rate=0.2, seed=7)
    draws(first, range(3))
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = PartialFC(ArcFace(), 8, 100, sample_rate=0.2, seed=0)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(resumed.weight, first.weight)
    assert draws(resumed, range(3, 6)) == uninterrupted[3:]


# Sharded: two processes, each half of the batch and half of the centres.
NUM_CLASSES, DIM, INPUT_DIM, BATCH = 13, 6, 5, 8  # 13 classes: shards of 7 and 6


def _problem() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs, labels, a linear backbone and the full centre matrix, the same in every process."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(BATCH, INPUT_DIM, generator=generator, dtype=torch.float64)
    labels = torch.randint(0, NUM_CLASSES, (BATCH,), generator=generator)
    backbone = torch.randn(INPUT_DIM, DIM, generator=generator, dtype=torch.float64)
    centres = torch.randn(NUM_CLASSES, DIM, generator=generator, dtype=torch.float64)
    return inputs, labels, backbone, centres


def _step(
    head: PartialFC, inputs: torch.Tensor, labels: torch.Tensor, backbone: torch.Tensor
) -> dict[str, torch.Tensor]:
    """One step through a linear backbone; the gradients a trainer would see."""
    backbone = backbone.clone().requires_grad_()
    embeddings = inputs @ backbone
    embeddings.retain_grad()
    loss = head(embeddings, labels)
    loss.backward()
    return {
        "loss": loss.detach(),
        "embeddings": embeddings.grad,
        "backbone": backbone.grad,
        "weight": head.weight.grad,
    }


def _sharded_worker(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group(
        "gloo",
        init_method=f"file://{init_file}",
        rank=rank,
        world_size=world_size,
        timeout=timedelta(seconds=60),  # a failed peer fails the test instead of hanging it
    )
    try:
        inputs, labels, backbone, centres = _problem()
        rows = slice(rank * BATCH // world_size, (rank + 1) * BATCH // world_size)
        head = PartialFC(ArcFace(s=16.0), DIM, NUM_CLASSES).double()
        with torch.no_grad():
            head.weight.copy_(centres[head.class_start : head.class_start + head.num_local])
        result = _step(head, inputs[rows], labels[rows], backbone)
        dist.all_reduce(result["backbone"])  # what sum_gradients does to the backbone under DDP

        sampled_head = PartialFC(ArcFace(s=16.0), DIM, NUM_CLASSES, sample_rate=0.5).double()
        sampled_head(inputs[rows] @ backbone, labels[rows])
        sampling = {"sampled": sampled_head.sampled_classes, "num_sample": sampled_head.num_sample}
        torch.save({**result, **sampling, "class_start": head.class_start}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_sharded_partial_fc_matches_one_process(tmp_path: Path) -> None:
    world_size = 2
    mp.spawn(_sharded_worker, args=(world_size, str(tmp_path / "init"), str(tmp_path)), nprocs=world_size)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(world_size)]

    inputs, labels, backbone, centres = _problem()
    # Rank 1's one class (10) is only in rank 0's half of the batch; rank 0's shard has more
    # positives (5) than samples (3).
    assert labels.tolist() == [10, 6, 1, 2, 3, 6, 0, 0]
    head = PartialFC(ArcFace(s=16.0), DIM, NUM_CLASSES).double()
    with torch.no_grad():
        head.weight.copy_(centres)
    whole = _step(head, inputs, labels, backbone)

    tolerance = {"rtol": 0, "atol": 1e-12}
    for rank, result in enumerate(ranks):
        rows = slice(rank * BATCH // world_size, (rank + 1) * BATCH // world_size)
        shard = slice(result["class_start"], result["class_start"] + result["weight"].shape[0])
        torch.testing.assert_close(result["loss"], whole["loss"], **tolerance)
        torch.testing.assert_close(result["embeddings"], whole["embeddings"][rows], **tolerance)
        torch.testing.assert_close(result["backbone"], whole["backbone"], **tolerance)
        torch.testing.assert_close(result["weight"], whole["weight"][shard], **tolerance)
        # Sampling keeps every positive of the global batch, wherever its sample was.
        in_shard = {label for label in labels.tolist() if shard.start <= label < shard.stop}
        assert in_shard <= set(result["sampled"].tolist())
        assert result["sampled"].numel() == max(result["num_sample"], len(in_shard))
    assert [result["num_sample"] for result in ranks] == [3, 3]


def test_the_initial_centres_are_one_matrix_however_they_are_sharded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(partial_fc, "_INIT_ROWS", 3)  # shards that cut through blocks
    whole = partial_fc._initial_shard(10, 4, 0, 10, seed=3)
    halves = [partial_fc._initial_shard(10, 4, start, 5, seed=3) for start in (0, 5)]
    thirds = [
        partial_fc._initial_shard(10, 4, start, count, seed=3) for start, count in ((0, 4), (4, 3), (7, 3))
    ]
    assert torch.equal(torch.cat(halves), whole) and torch.equal(torch.cat(thirds), whole)
