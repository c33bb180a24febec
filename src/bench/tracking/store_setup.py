"""A new local MLflow store is created whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

from filelock import FileLock

SQLITE_PREFIX = "sqlite:///"


def prepare_store(uri: str, artifact_root: str | None) -> None:
    """Create the SQLite store at ``uri``, with ``artifact_root`` as the default experiment's
    artifact root, if its database file does not exist yet.

    MLflow creates a missing store in place, table by table and migration by migration, without
    a lock or a transaction: a process killed meanwhile leaves a half-built database that MLflow
    then refuses for good, and two first runs at once migrate the same tables twice. Here one
    process at a time (a lock file beside the database) builds the store in a hidden temporary
    file and renames it into place, so the database is either absent or complete. A temporary
    file found under the lock is what a killed creation left behind, and is removed.

    Existing databases are left to MLflow; other stores (servers, file stores) are not touched.
    """
    if not uri.startswith(SQLITE_PREFIX):
        return
    database = Path(uri.removeprefix(SQLITE_PREFIX)).absolute()
    if database.name == ":memory:" or database.exists():
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    leftover_prefix = f".{database.name}.creating"
    with FileLock(database.parent / f".{database.name}.lock"):
        if database.exists():  # created by whoever held the lock before us
            return
        for leftover in database.parent.iterdir():
            if leftover.name.startswith(leftover_prefix):  # the file and its journal
                leftover.unlink()
        # Imported here: the runs that log to a server or to an existing store never need it.
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

        temporary = database.parent / leftover_prefix
        store = SqlAlchemyStore(f"{SQLITE_PREFIX}{temporary}", artifact_root)
        store.engine.dispose()
        os.replace(temporary, database)
