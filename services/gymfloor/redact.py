"""Secrets kept out of log lines and error messages: the one place that knows how to hide them.

Settings hold passwords and tokens as `SecretStr`, which never prints its value; what remains are
URLs with a password in them (`mqtt://user:password@host`, `postgresql://…`, `nats://…`), which
are echoed when they are wrong or cannot be reached. Every such message goes through `redact`.
"""

from __future__ import annotations

import re

HIDDEN = "***"

# scheme://user:password@ — the password runs to the last @ before the path, so an @ left
# unescaped in it is hidden too.
_PASSWORD_IN_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/@:]*):[^\s/]*@")


def redact(text: str) -> str:
    """`text` with the password of every URL in it replaced by `HIDDEN`."""
    return _PASSWORD_IN_URL.sub(rf"\1:{HIDDEN}@", text)
