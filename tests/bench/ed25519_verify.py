"""Ed25519 verification in plain Python that MicroPython runs: RFC 8032 section 5.1.7 (with its own
SHA-512, section 6.4 of FIPS 180-4, since MicroPython's hashlib has none), for the node-side
firmware check that tests/bench/node_ed25519.py measures. Not used by the gateway or the firmware:
firmware/README.md, "Who may change a node's firmware", says why the check stays on the gateway.

Integers only (MicroPython's long ints, three-argument pow); extended twisted Edwards coordinates.
`K` and `H0` (SHA-512's constants) are filled in by the benchmark, computed from their definition.
"""

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
M64 = (1 << 64) - 1
K = []  # the 80 round constants, set by the caller
H0 = []  # the 8 initial hash values, set by the caller


def sha512(msg):
    """SHA-512 of `msg` (bytes)."""
    length = len(msg)
    msg = msg + b"\x80" + b"\x00" * ((111 - length) % 128) + (length * 8).to_bytes(16, "big")
    h = list(H0)
    for start in range(0, len(msg), 128):
        w = [int.from_bytes(msg[start + 8 * j : start + 8 * j + 8], "big") for j in range(16)]
        for j in range(16, 80):
            x, y = w[j - 15], w[j - 2]
            s0 = _rotr(x, 1) ^ _rotr(x, 8) ^ (x >> 7)
            s1 = _rotr(y, 19) ^ _rotr(y, 61) ^ (y >> 6)
            w.append((w[j - 16] + s0 + w[j - 7] + s1) & M64)
        a, b, c, d, e, f, g, hh = h
        for j in range(80):
            t1 = hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & f) ^ ((e ^ M64) & g)) + K[j] + w[j]
            t2 = (_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))
            hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & M64, c, b, a, (t1 + t2) & M64
        h = [(h[i] + v) & M64 for i, v in enumerate((a, b, c, d, e, f, g, hh))]  # MicroPython: no zip strict
    return b"".join(x.to_bytes(8, "big") for x in h)


def _rotr(x, n):
    return ((x >> n) | (x << (64 - n))) & M64


def _inv(x):
    return pow(x, P - 2, P)


D = -121665 * _inv(121666) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * _inv(D * y * y + 1)
    if x2 % P == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P:
        return None
    return P - x if (x & 1) != sign else x


_BY = 4 * _inv(5) % P
_BX = _recover_x(_BY, 0)
BASE = (_BX, _BY, 1, _BX * _BY % P)


def _add(p, q):
    a = (p[1] - p[0]) * (q[1] - q[0]) % P
    b = (p[1] + p[0]) * (q[1] + q[0]) % P
    c = 2 * p[3] * q[3] * D % P
    d = 2 * p[2] * q[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _point(s):
    y = int.from_bytes(s, "little")
    x = _recover_x(y & ((1 << 255) - 1), y >> 255)
    return None if x is None else (x, y & ((1 << 255) - 1), 1, x * (y & ((1 << 255) - 1)) % P)


def verify(public, message, signature):
    """Whether `signature` (64 bytes) is `public`'s (32 bytes) Ed25519 signature of `message`."""
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _point(public), _point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    k = int.from_bytes(sha512(signature[:32] + public + message), "little") % L
    left, right = _mul(s, BASE), _add(r, _mul(k, a))
    return (left[0] * right[2] - right[0] * left[2]) % P == 0 and (
        left[1] * right[2] - right[1] * left[2]
    ) % P == 0
