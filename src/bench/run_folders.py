"""Each run's own folder, claimed atomically, so that runs started in the same second never share one.

Hydra names run and sweep folders by the clock, to the second: two runs started in the same
second would write into one folder and log each other's files to MLflow. The configs wrap their
``hydra.run.dir`` and ``hydra.sweep.dir`` in the ``claim_folder`` resolver. ``os.mkdir`` fails on
a folder that exists, so of the runs that want one name exactly one gets it, and the others take
the next free ``<name>_<n>``. OmegaConf caches the resolver's value in the config, and Hydra
copies that cache to every job of a sweep (as it does for ``now``): a run claims one folder
however often Hydra reads the key. (``tempfile.mkdtemp`` claims as atomically, but names the
folder at random where a run's folder should read as its start time.)
"""

from __future__ import annotations

import os
from pathlib import Path

#: Suffixes tried after the name itself: more runs than this in one second is a loop gone wrong.
MAX_SUFFIX = 999


class RunFolderError(RuntimeError):
    """No folder could be claimed for a run."""


def claim_folder(wanted: str | os.PathLike[str]) -> Path:
    """Create and return ``wanted``, or ``wanted_1``, ``wanted_2``, ... if it is taken, creating
    its parent folders; a folder that some other run created is never returned."""
    base = Path(wanted)
    try:
        base.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise unusable(base, base.parent, error) from error
    for suffix in range(MAX_SUFFIX + 1):
        candidate = base if suffix == 0 else base.with_name(f"{base.name}_{suffix}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        except OSError as error:
            raise unusable(base, candidate, error) from error
        return candidate
    raise RunFolderError(
        f"{base} and {base.name}_1 ... {base.name}_{MAX_SUFFIX} are all taken: "
        "give hydra.run.dir (a sweep: hydra.sweep.dir) a name of its own"
    )


def unusable(wanted: Path, path: Path, error: OSError) -> RunFolderError:
    return RunFolderError(
        f"cannot claim a run folder at {wanted}: creating {path} failed ({error.strerror}); point "
        "hydra.run.dir (a sweep: hydra.sweep.dir) at a folder this user can write to"
    )
