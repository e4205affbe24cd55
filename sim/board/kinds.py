"""The board types the simulator plays (ESP32, RP2040): the facts host tools can observe of each.

Also what their ROM and MicroPython print: the version banner and the ESP32 bootloader's chatter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.board.cpu import HARD_RESET, WDT_RESET

MP_VERSION = "MicroPython v1.29.0 on 2026-08-29"
ESP32_ROM_RESET = (
    b"ets Jul 29 2019 12:21:46\r\n\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
)
ESP32_BLANK = b"rst:0x10 (RTCWDT_RTC_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\ninvalid header: 0xffffffff\r\n"


@dataclass(frozen=True, slots=True)
class BoardKind:
    """The facts of one board type that host tools can observe."""

    name: str
    machine: str  # sys.implementation._machine, also in the banner
    arch: str  # mpy-cross -march for native code
    mpy_arch: int  # the arch field of sys.implementation._mpy
    uid_len: int  # bytes of machine.unique_id()
    i2c_missing: int  # errno of an I2C transfer nobody acknowledges
    reset_cause: int  # machine.reset_cause() after machine.reset()
    native_usb: bool  # the USB serial port vanishes while the board resets
    soft_cause: bool  # machine.reset_cause() says SOFT_RESET after a soft reboot


BOARDS: Mapping[str, BoardKind] = {
    # esp32 modmachine.c: ESP_RST_SW (machine.reset) -> HARD_RESET, and SOFT_RESET after a soft reboot;
    # rp2: machine.reset() reboots through the watchdog -> WDT_RESET, soft reboots leave the cause.
    "esp32": BoardKind(
        "esp32", "Generic ESP32 module with ESP32", "xtensawin", 10, 6, 19, HARD_RESET, False, True
    ),
    "rp2": BoardKind("rp2", "Raspberry Pi Pico with RP2040", "armv6m", 4, 8, 5, WDT_RESET, True, False),
}
