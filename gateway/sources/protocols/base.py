"""The contract every serial sensor protocol implements: pure functions over bytes, no I/O.

A protocol module exports one `SensorProtocol` describing the sensor (baud rate, commands,
timing) and a resynchronising `StreamDecoder` that turns arbitrary byte chunks into decoded
samples or named frame errors. The transport in `sources/serial.py` only moves bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


class FrameError(ValueError):
    """A candidate frame that must not yield a reading."""

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class ChecksumError(FrameError):
    """The frame's checksum does not match its contents."""


class MalformedFrame(FrameError):
    """Wrong length, tail byte or command byte."""


@dataclass(frozen=True, slots=True)
class Sample:
    """The values of one valid measurement frame, keyed as in `gateway.messages.UNITS`."""

    values: Mapping[str, float]
    flags: frozenset[str] = frozenset()  # e.g. "warming_up" for an all-zero payload


@dataclass(frozen=True, slots=True)
class Ack:
    """A command acknowledgement (no measurement)."""

    raw: bytes


Decoded = Sample | Ack | FrameError


class StreamDecoder(ABC):
    """Stateful framer: bytes in any chunking -> samples, acks and errors, in stream order."""

    @abstractmethod
    def feed(self, data: bytes) -> list[Decoded]:
        """Consume `data`; return everything completed by it. Never raises on bad input."""

    @abstractmethod
    def reset(self) -> None:
        """Drop any partial frame (after a reconnect or an inter-byte timeout)."""


@dataclass(frozen=True, slots=True)
class SensorOptions:
    """Per-sensor settings from the config that change what is sent to the device."""

    mode: str = "active"  # "active" or "query"/"passive": who decides when a frame is sent
    working_period_min: int = 0  # SDS011 only: 0 = continuous


@dataclass(frozen=True, slots=True)
class SensorProtocol:
    """Everything the transport needs to drive one kind of sensor."""

    type: str
    baudrate: int
    decoder: Callable[[], StreamDecoder]
    start_commands: Callable[[SensorOptions], list[bytes]]  # sent after every (re)open
    poll_command: Callable[[SensorOptions], bytes | None]  # sent each poll period, if any
    poll_period_s: float  # also the expected frame period in active mode
    warmup_s: float  # readings inside this window after (re)open are flagged "warming_up"
    value_keys: tuple[str, ...] = field(default=())
