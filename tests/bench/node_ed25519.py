"""What would a node pay to check a firmware signature itself? `python -m tests.bench.node_ed25519`.

Measures one Ed25519 verification (tests/bench/ed25519_verify.py, plain Python) of a signature over a
32-byte manifest hash, as a node would check a signed firmware manifest before taking an update:
on the real MicroPython interpreter (the WebAssembly port under Node.js that runs tests/firmware) and
on CPython for scale. It checks the result too: the real signature verifies, a changed one does not,
and the SHA-512 matches hashlib's. An ESP32 is not measured here: it has no WebAssembly JIT behind it
and runs at 240 MHz, so expect it to be slower than the wasm figure, by an amount to be measured on
a board before anyone relies on it (firmware/README.md, "Who may change a node's firmware").
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.bench import ed25519_verify
from tests.firmware import paths

ROUNDS = 5
PRIMES = [n for n in range(2, 410) if all(n % k for k in range(2, int(n**0.5) + 1))][:80]

RUN_SCRIPT = """
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const { loadMicroPython } = await import(pathToFileURL(process.argv[2]).href);
const mp = await loadMicroPython({ heapsize: 4 * 1024 * 1024, stdout: (l) => process.stdout.write(l + "\\n") });
mp.runPython(readFileSync(process.argv[3], "utf8"));
"""


def _iroot(n: int, k: int) -> int:
    """floor(n ** (1/k)) for a big integer n (Newton's method)."""
    x = 1 << (n.bit_length() // k + 1)
    while True:
        y = ((k - 1) * x + n // x ** (k - 1)) // k
        if y >= x:
            return x
        x = y


def sha512_constants() -> tuple[list[int], list[int]]:
    """FIPS 180-4 4.2.3 and 5.3.5: 64 fractional bits of the cube roots of the first 80 primes, and of
    the square roots of the first 8."""
    k = [_iroot(p << 192, 3) & ed25519_verify.M64 for p in PRIMES]
    h0 = [_iroot(p << 128, 2) & ed25519_verify.M64 for p in PRIMES[:8]]
    return k, h0


def signed_manifest_hash() -> tuple[bytes, bytes, bytes]:
    """(public key, message, signature): a key signs the sha256 of a manifest, as `make firmware` would."""
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    message = hashlib.sha256(b'{"format": 1, "kind": "firmware", "version": "1.1.0-esp32"}').digest()
    return public, message, key.sign(message)


def micropython_script(
    public: bytes, message: bytes, signature: bytes, constants: tuple[list[int], list[int]]
) -> str:
    """The verifier plus a timed loop, printing `ms_per_verify ok refused`."""
    source = Path(ed25519_verify.__file__).read_text(encoding="utf-8")
    bad = signature[:40] + bytes([signature[40] ^ 1]) + signature[41:]
    return f"""{source}
K[:] = {constants[0]!r}
H0[:] = {constants[1]!r}
import time
ok = verify({public!r}, {message!r}, {signature!r})
refused = not verify({public!r}, {message!r}, {bad!r})
start = time.ticks_ms()
for _ in range({ROUNDS}):
    verify({public!r}, {message!r}, {signature!r})
print(time.ticks_diff(time.ticks_ms(), start) / {ROUNDS}, ok, refused)
"""


def run() -> dict[str, float]:
    """Milliseconds per verification on CPython and on MicroPython (wasm)."""
    constants = sha512_constants()
    ed25519_verify.K[:], ed25519_verify.H0[:] = constants
    public, message, signature = signed_manifest_hash()
    assert ed25519_verify.sha512(b"abc" * 100) == hashlib.sha512(b"abc" * 100).digest()
    assert ed25519_verify.verify(public, message, signature)
    assert not ed25519_verify.verify(public, message, signature[:-1] + bytes([signature[-1] ^ 1]))
    start = time.perf_counter()
    for _ in range(ROUNDS):
        ed25519_verify.verify(public, message, signature)
    cpython_ms = (time.perf_counter() - start) * 1000 / ROUNDS
    with tempfile.TemporaryDirectory() as tmp:
        script, runner = Path(tmp) / "bench.py", Path(tmp) / "run.mjs"
        script.write_text(micropython_script(public, message, signature, constants))
        runner.write_text(RUN_SCRIPT)
        out = subprocess.run(
            ["node", str(runner), str(paths.INTERPRETER), str(script)],
            capture_output=True, text=True, timeout=600, check=True,
        ).stdout.split()  # fmt: skip
    assert out[1:] == ["True", "True"], out  # verified, and the changed signature refused
    return {"cpython_ms": cpython_ms, "micropython_wasm_ms": float(out[0])}


if __name__ == "__main__":
    figures = run()
    print(f"Ed25519 verify of a signed 32-byte manifest hash, plain Python, mean of {ROUNDS}:")
    print(f"  CPython {sys.version.split()[0]}:          {figures['cpython_ms']:8.1f} ms")
    print(f"  MicroPython (wasm, Node.js): {figures['micropython_wasm_ms']:8.1f} ms")
