"""``bench flops``: parameters and FLOPs of every EdgeFace variant, beside the paper's figures.

    bench flops            # or: python -m bench flops

No weights are needed: the layouts are built untrained (``bench.models.complexity``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench.models.complexity import PUBLISHED, complexity
from bench.models.edgeface import VARIANTS


def table() -> list[str]:
    """A Markdown table: each variant's layout, parameters and MFLOPs, and the paper's."""
    lines = [
        "| model | arch | rank ratio | int8 | params (M) | MFLOPs "
        "| paper params (M) | paper MFLOPs | MFLOPs vs paper |",
        "|---|---|--:|---|--:|--:|--:|--:|--:|",
    ]
    for variant in VARIANTS.values():
        counted = complexity(variant.arch, variant.rank_ratio)
        params, mflops = counted.parameters / 1e6, counted.flops / 1e6
        paper = PUBLISHED.get(variant.name)
        published = (
            ("-", "-", "-")
            if paper is None
            else (f"{paper[0]:.2f}", f"{paper[1]:.2f}", f"{100 * (mflops / paper[1] - 1):+.2f} %")
        )
        rank = "-" if variant.rank_ratio is None else f"{variant.rank_ratio:g}"
        lines.append(
            f"| {variant.name} | {variant.arch} | {rank} | {'yes' if variant.quantized else 'no'} | "
            f"{params:.3f} | {mflops:.2f} | {' | '.join(published)} |"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench flops", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    print("\n".join(table()))
    print(
        "\nFLOPs as torch.utils.flop_counter counts them on one 112x112 face: a multiply-add is two, "
        "in convolutions and matrix products; int8 models have their float layout's arithmetic."
    )
