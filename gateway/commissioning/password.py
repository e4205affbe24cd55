"""The commissioning page's password: a salted scrypt hash in the config, never the password itself.

Format (PHC string, as passlib writes scrypt): ``$scrypt$ln=17,r=8,p=1$<salt>$<hash>``, base64
without padding. The cost is OWASP's minimum for scrypt (N = 2**17, r = 8, p = 1: 128 MiB and about
half a second per check on a desktop core, a few seconds on a Raspberry Pi), which is why the page
checks one password at a time and rate-limits logins. The parameters travel in the string, so a
later, costlier default still verifies older hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

LOG2_N, BLOCK_SIZE, PARALLEL = 17, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
MIN_LENGTH = 10  # a password someone on a ladder can still type, long enough not to guess online
_FORMAT = re.compile(
    r"\$scrypt\$ln=(?P<ln>\d{1,2}),r=(?P<r>\d{1,2}),p=(?P<p>\d{1,2})"
    r"\$(?P<salt>[A-Za-z0-9+/]{16,88})\$(?P<hash>[A-Za-z0-9+/]{43,88})"
)


@dataclass(frozen=True, slots=True)
class ScryptHash:
    """A parsed password hash."""

    log2_n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    def encode(self) -> str:
        """The PHC string stored in the config."""
        return f"$scrypt$ln={self.log2_n},r={self.r},p={self.p}${_b64(self.salt)}${_b64(self.digest)}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, h: ScryptHash) -> bytes:
    memory = 128 * h.r * (2**h.log2_n) * (h.p + 1)  # what OpenSSL needs, with room for the p blocks
    return hashlib.scrypt(
        password.encode(),
        salt=h.salt,
        n=2**h.log2_n,
        r=h.r,
        p=h.p,
        maxmem=memory + 2**20,
        dklen=len(h.digest),
    )


def parse(encoded: str) -> ScryptHash:
    """The hash in a config value, or ValueError saying what is wrong with it."""
    match = _FORMAT.fullmatch(encoded)
    if match is None:
        raise ValueError(
            "not a password hash made by `edge-gateway commissioning set-password` "
            "($scrypt$ln=..,r=..,p=..$salt$hash)"
        )
    log2_n, r, p = int(match["ln"]), int(match["r"]), int(match["p"])
    # Bounds keep a typo from asking for gigabytes at the first login (N * r * 128 bytes).
    if not (14 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
        raise ValueError("scrypt parameters out of range: 14 <= ln <= 20, 1 <= r <= 16, 1 <= p <= 4")
    return ScryptHash(log2_n, r, p, _unb64(match["salt"]), _unb64(match["hash"]))


def hash_password(password: str, log2_n: int | None = None) -> str:
    """A new salted hash of `password` for the config (ValueError if the password is too short)."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password must have at least {MIN_LENGTH} characters")
    blank = ScryptHash(
        LOG2_N if log2_n is None else log2_n,
        BLOCK_SIZE,
        PARALLEL,
        secrets.token_bytes(SALT_BYTES),
        bytes(HASH_BYTES),
    )
    return ScryptHash(blank.log2_n, blank.r, blank.p, blank.salt, _derive(password, blank)).encode()


def verify(password: str, stored: ScryptHash) -> bool:
    """Whether `password` matches the stored hash (constant-time comparison)."""
    return hmac.compare_digest(_derive(password, stored), stored.digest)
