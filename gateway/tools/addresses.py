"""Whether a configured hardware address can work: a serial port (path or pyserial URL), a camera URL.

Nothing is opened. A device that is absent now but may be plugged in later is a warning (the
gateway keeps retrying it); an address that can never work is an error.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import serial.urlhandler
from serial.tools import list_ports

from gateway.yamlwords import did_you_mean

CAMERA_SCHEMES = ("rtsp", "rtsps", "http", "https", "file")
CAMERA_KINDS = "a device (/dev/video0 or 0), rtsp://, http(s):// (MJPEG) or a video file"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What is wrong with an address; `warning` when it may still work later."""

    message: str
    warning: bool = False


def pyserial_schemes() -> list[str]:
    """The URL schemes pyserial's `serial_for_url` knows (socket, rfc2217, spy, ...)."""
    return sorted(
        m.name.removeprefix("protocol_")
        for m in pkgutil.iter_modules(serial.urlhandler.__path__)
        if m.name.startswith("protocol_")
    )


def serial_port(port: str) -> Verdict | None:
    """A device path, /dev/serial/by-id/..., or a pyserial URL."""
    if "://" not in port:
        return _device(Path(port), "serial port")
    scheme, rest = port.split("://", 1)
    parts = urlsplit(port)
    if scheme in ("spy", "alt"):  # wrappers around a device path: spy:///dev/ttyUSB0
        return _device(Path(parts.path), "serial port") if parts.path.startswith("/") else None
    if scheme in ("socket", "rfc2217"):
        return _host_and_port(parts, required_port=True)
    if scheme == "hwgrep":
        return _hwgrep(rest.split("&", 1)[0])
    if importlib.util.find_spec(f"serial.urlhandler.protocol_{scheme}") is None:
        known = pyserial_schemes()
        hint = did_you_mean(scheme, known) or f"; pyserial knows {', '.join(known)}"
        return Verdict(f"unknown URL scheme {scheme!r}{hint}")
    return None


def camera_url(url: str, cwd: Path) -> Verdict | None:
    """A device index or path, an rtsp:// or http(s):// stream, or a video file (relative to `cwd`)."""
    if url.isdigit():
        return _device(Path(f"/dev/video{url}"), f"camera {url} (/dev/video{url})")
    if url.startswith("/dev/"):
        return _device(Path(url), "camera")
    if "://" not in url:
        return _video_file(cwd / url)
    return _camera_stream(urlsplit(url))


def _camera_stream(parts: SplitResult) -> Verdict | None:
    scheme = parts.scheme.lower()
    if scheme == "file":
        return _video_file(Path(parts.path))
    if scheme in CAMERA_SCHEMES:
        return _host_and_port(parts, required_port=False)
    hint = did_you_mean(scheme, list(CAMERA_SCHEMES))
    if hint:
        return Verdict(f"unknown URL scheme {scheme!r}{hint}")
    return Verdict(f"{scheme}:// is not one of {CAMERA_KINDS}; FFmpeg may open it", warning=True)


def _device(path: Path, what: str) -> Verdict | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return Verdict(f"{path} does not exist now (unplugged? the gateway keeps trying)", warning=True)
    except OSError as exc:
        return Verdict(f"{path}: {exc.strerror}", warning=True)
    if not stat.S_ISCHR(mode):
        return Verdict(f"{path} is no device: a {what} is a character device")
    if not os.access(path, os.R_OK | os.W_OK):
        return Verdict(f"{path}: this user may not read and write it (group dialout or video?)", warning=True)
    return None


def _video_file(path: Path) -> Verdict | None:
    if not path.is_file():
        missing = "is a directory" if path.is_dir() else "does not exist"
        return Verdict(f"{path} {missing}: a camera is {CAMERA_KINDS}")
    if not os.access(path, os.R_OK):
        return Verdict(f"{path}: this user may not read it")
    return None


def _host_and_port(parts: SplitResult, *, required_port: bool) -> Verdict | None:
    shape = f"{parts.scheme}://<host>:<port>" if required_port else f"{parts.scheme}://<host>[:<port>]/..."
    if not parts.hostname:
        return Verdict(f"no host: expected {shape}")
    try:
        port = parts.port
    except ValueError:
        return Verdict(f"the port is not a number from 1 to 65535: expected {shape}")
    if required_port and not port:
        return Verdict(f"no port: expected {shape}")
    return None


def _hwgrep(pattern: str) -> Verdict | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return Verdict(f"hwgrep pattern {pattern!r} is not a regular expression: {exc}")
    if not any(True for _ in list_ports.grep(pattern)):
        return Verdict(f"no serial port matches {pattern!r} now (unplugged?)", warning=True)
    return None
