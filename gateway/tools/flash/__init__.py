"""`edge-gateway flash`: put the node firmware on a MicroPython board, verify it, test it, report.

Steps: verify the signed firmware image for the board (image.py; built by `make firmware`: firmware/
compiled with mpy-cross, boot.py and main.py kept as source, drivers in /lib as their micropython-lib
manifests say, with the manifest's `opt` level, signed with the release key), generate /config.json and
/identity.json, copy everything through mpremote (main.py last, after the old one is removed, so a
reset half-way boots to the REPL, never into a half-copied firmware), check every file's sha256 on
the board itself, run the firmware's self-test, soft-reset into the firmware and print a report.

mpremote is used as a library (`mpremote.transport_serial.SerialTransport`), not as a subprocess:
one connection and one raw-REPL entry for the whole job instead of a soft reset per command, a
progress callback per 256-byte chunk for the progress bar, and its exceptions to tell the usual
failures apart. Its API is pinned with its version (mpremote==1.29.0).
"""

from gateway.tools.flash.build import compile_sources, firmware_sources
from gateway.tools.flash.command import flash, main, run_flash
from gateway.tools.flash.image import Image, build_image, load_image
from gateway.tools.flash.install import copy_files, self_test, verify
from gateway.tools.flash.job import (
    FIRMWARE_DIR,
    IMAGES_DIR,
    BoardBusy,
    BoardFile,
    FlashError,
    FlashOptions,
    FlashReport,
    NoMicroPython,
    PortMissing,
    VerifyFailed,
)
from gateway.tools.flash.link import connect

__all__ = [
    "FIRMWARE_DIR",
    "IMAGES_DIR",
    "BoardBusy",
    "BoardFile",
    "FlashError",
    "FlashOptions",
    "FlashReport",
    "Image",
    "NoMicroPython",
    "PortMissing",
    "VerifyFailed",
    "build_image",
    "compile_sources",
    "connect",
    "copy_files",
    "firmware_sources",
    "flash",
    "load_image",
    "main",
    "run_flash",
    "self_test",
    "verify",
]
