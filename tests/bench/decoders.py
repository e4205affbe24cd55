"""Figure 1: frames the gateway's protocol decoders parse per CPU-second, clean and with garbage.

Streams are built with the simulator's own encoders (never the gateway's), cut into chunks as a
serial read hands them over, and fed to a fresh `get_protocol(type).decoder()`; only the feeding
is timed, with time.process_time (CPU of this process, which runs nothing else meanwhile).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from gateway.sources.protocols.base import Sample
from gateway.sources.protocols.registry import get_protocol
from sim.serial.encoders import mhz19_response, pms5003_data, sds011_data
from tests.bench.report import Figure

FRAMES = 20_000  # per stream: 200-640 kB, long enough that per-pass overhead vanishes
GARBAGE = 0.10  # fraction of the stream's bytes that are garbage in the dirty variant
MAX_CHUNK = 32  # reads hand over 1-32 bytes: a USB-serial adapter's packets at 9600 baud
MIN_CPU_S = 1.0  # repeat passes until this much CPU is spent, for a stable rate

METHOD = (
    f"valid frames decoded (Sample outputs) / process CPU s; {FRAMES:,} sim-encoded frames with seeded "
    f"random values, fed in random 1-{MAX_CHUNK} B chunks; garbage: random bytes between frames = "
    f"{GARBAGE:.0%} of the stream"
)


def _sds011(rng: random.Random) -> bytes:
    return sds011_data(rng.randint(1, 9999), rng.randint(1, 9999), 0x1234)


def _pms5003(rng: random.Random) -> bytes:
    pm1 = rng.randint(0, 300)
    pm = [pm1, pm1 + rng.randint(0, 100), pm1 + rng.randint(100, 200)]
    # Particle counts fall with size; N0.3 > 0, or the gateway rightly rejects PM without particles.
    counts = [rng.randint(3000, 60000) >> (2 * i) for i in range(6)]
    return pms5003_data(pm, pm, counts)


def _mhz19(rng: random.Random) -> bytes:
    return mhz19_response(rng.randint(400, 5000), rng.randint(-10, 50))


ENCODERS: dict[str, Callable[[random.Random], bytes]] = {
    "sds011": _sds011,
    "pms5003": _pms5003,
    "mhz19": _mhz19,
}


def stream(kind: str, garbage: float, seed: int = 1) -> bytes:
    """FRAMES frames of `kind`, with `garbage` of the total bytes as random runs between frames."""
    rng = random.Random(seed)
    frames = [ENCODERS[kind](rng) for _ in range(FRAMES)]
    valid = sum(len(f) for f in frames)
    junk = round(valid * garbage / (1.0 - garbage))
    gaps = [0] * FRAMES
    for _ in range(junk):
        gaps[rng.randrange(FRAMES)] += 1
    return b"".join(rng.randbytes(gap) + frame for gap, frame in zip(gaps, frames, strict=True))


def chunks(data: bytes, seed: int = 2) -> list[bytes]:
    """`data` cut into random 1..MAX_CHUNK byte pieces."""
    rng = random.Random(seed)
    out: list[bytes] = []
    i = 0
    while i < len(data):
        step = rng.randint(1, MAX_CHUNK)
        out.append(data[i : i + step])
        i += step
    return out


def frames_per_cpu_s(kind: str, pieces: list[bytes]) -> tuple[float, int]:
    """(Samples decoded per CPU second, Samples per pass) over repeated passes with fresh decoders."""
    make = get_protocol(kind).decoder
    samples = passes = 0
    start = time.process_time()
    while True:
        decoder = make()
        for piece in pieces:
            samples += sum(isinstance(item, Sample) for item in decoder.feed(piece))
        passes += 1
        spent = time.process_time() - start
        if spent >= MIN_CPU_S:
            return samples / spent, samples // passes


def run() -> list[Figure]:
    """Figure 1 for every protocol, clean and with garbage."""
    figures: list[Figure] = []
    for kind in ENCODERS:
        for garbage in (0.0, GARBAGE):
            rate, parsed = frames_per_cpu_s(kind, chunks(stream(kind, garbage)))
            variant = "clean" if garbage == 0 else f"{garbage:.0%} garbage"
            label = f"decode {kind} {variant}, {parsed:,}/{FRAMES:,} kept"
            figures.append(
                Figure(
                    f"decode.{kind}.{'garbage' if garbage else 'clean'}", label, rate, "frames/CPU-s", METHOD
                )
            )
    return figures
