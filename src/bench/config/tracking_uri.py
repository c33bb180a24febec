"""``tracking.uri``: checked before any run, and shown only with its password masked.

A URI may carry credentials: ``http://user:password@host`` (MLflow sends them as basic auth) or
``postgresql://user:password@host/db``. The URI is logged as a run parameter, written to a run's
``config.yaml`` and named in messages, so whatever shows it goes through :func:`mask_credentials`.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

from bench.config.validate import ConfigValueError

#: Where MLflow, and ``conf/tracking/*.yaml``, take the tracking URI from when it is set.
TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"

#: ``scheme://user:password@``; the password runs to the last ``@`` of the authority, which is
#: where ``urllib.parse`` ends it too (a raw ``@`` in a password stays masked).
_CREDENTIALS = re.compile(r"(?P<user>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#:@]*):[^\s/?#]*@")
MASK = "***"


def mask_credentials(text: str) -> str:
    """``text`` with the password of every URI in it masked (``user:***@``)."""
    return _CREDENTIALS.sub(rf"\g<user>:{MASK}@", text)


def check_tracking_uri(uri: str) -> None:
    """Raise :class:`ConfigValueError`, naming ``tracking.uri`` (and ``MLFLOW_TRACKING_URI`` when
    that set it) and what is wrong, if ``uri``'s address cannot be read: a port that is no number
    would otherwise stop the run only once it talks to the store, with urllib's bare ``InvalidURL``."""
    try:
        _ = urlsplit(uri).port  # read only when asked for: a port that is no number raises here
    except ValueError as error:
        from_environment = os.environ.get(TRACKING_URI_ENV) == uri
        option = f"tracking.uri (from {TRACKING_URI_ENV})" if from_environment else "tracking.uri"
        remedy = (
            f"correct {TRACKING_URI_ENV}, or unset it to log to the local SQLite store"
            if from_environment
            else "correct tracking.uri"
        )
        raise ConfigValueError(
            f"{option} {mask_credentials(uri)!r} is not a valid URI: {error}; {remedy}"
        ) from None
