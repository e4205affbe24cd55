"""Serial sensor transport: opens a port by address, moves bytes into the protocol's decoder.

Ports are opened only through `serial.serial_for_url`, so a device path, a simulator's pty,
`socket://host:port` or `spy:///dev/ttyUSB0` all work unchanged. A vanished port is reopened
with exponential back-off and jitter; its loss and return are logged once each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

import serial

from gateway.messages import Event, Reading, SourceHealth, SourceStatus, utc_now
from gateway.sources.backoff import Backoff
from gateway.sources.heartbeat import Heartbeat
from gateway.sources.protocols.base import Ack, FrameError, Sample, SensorOptions, SensorProtocol

log = logging.getLogger(__name__)

SourceOutput = Reading | SourceStatus | Event
RETRY_MIN_S, RETRY_MAX_S = 0.5, 10.0  # reopening a port: first and longest wait


class PacketLink(Protocol):
    """Per-device link state for protocols that carry more than readings (sensor nodes)."""

    def accept(self, item: Sample | Ack) -> tuple[list[Event], list[Sample]]:
        """Events this decoded item raises, and the samples to pass on as readings."""
        ...


class ByteStream(Protocol):
    """What the transport uses of an open pyserial port, whichever URL handler opened it."""

    @property
    def in_waiting(self) -> int:
        """Bytes ready to read."""
        ...

    def read(self, size: int = 1) -> bytes:
        """Up to `size` bytes, waiting at most the port's timeout."""
        ...

    def write(self, data: bytes, /) -> int | None:
        """Send bytes."""
        ...

    def close(self) -> None:
        """Close the port."""
        ...


Sink = Callable[[SourceOutput], None]


@dataclass(frozen=True, slots=True)
class SerialSpec:
    """What the transport needs to know about one configured sensor."""

    source: str
    port: str
    protocol: SensorProtocol
    options: SensorOptions
    poll_s: float
    warmup_s: float
    offline_after_s: float  # silence on an open port after which the source counts as offline
    link: PacketLink | None = None  # sensor nodes: sequence, reboots, groups of values


class SerialSource:
    """One sensor on one port, in its own thread; failures stay inside it."""

    def __init__(self, spec: SerialSpec, sink: Sink) -> None:
        self.spec = spec
        self._sink = sink
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"serial-{spec.source}", daemon=True)
        self.heartbeat = Heartbeat()  # renewed by the thread's loop; the service watchdog reads it
        self._online: bool | None = None  # None until the first verdict
        self._frames_ok = 0
        self._bad_frames = 0
        self._timeouts = 0
        self._reconnects = 0
        self._last_reading: Reading | None = None

    def start(self) -> None:
        """Start reading in the background."""
        self.heartbeat.beat()
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop and close the port."""
        self._stop.set()
        self._thread.join(timeout)

    def hung(self) -> list[str]:
        """The name of this source's thread if its loop is late (stuck), else nothing."""
        return [] if self.heartbeat.alive() else [self._thread.name]

    def health(self) -> SourceHealth:
        """A snapshot of the counters."""
        last = self._last_reading
        return SourceHealth(
            source=self.spec.source,
            online=bool(self._online),
            frames_ok=self._frames_ok,
            bad_frames=self._bad_frames,
            timeouts=self._timeouts,
            reconnects=self._reconnects,
            last_reading=None if last is None else last.time,
        )

    def _set_online(self, online: bool, reason: str) -> None:
        if self._online == online:
            return
        if online:
            log.info("source %s online (%s)", self.spec.source, reason)
        else:
            log.warning("source %s offline: %s", self.spec.source, reason)
        self._online = online
        self._sink(SourceStatus(self.spec.source, utc_now(), online, reason))

    def _run(self) -> None:
        backoff = Backoff(RETRY_MIN_S, RETRY_MAX_S)
        while not self._stop.is_set():
            self.heartbeat.beat()
            try:
                port = serial.serial_for_url(
                    self.spec.port, baudrate=self.spec.protocol.baudrate, timeout=0.05, exclusive=True
                )
            except (serial.SerialException, OSError, ValueError) as exc:
                self._set_online(False, f"cannot open {self.spec.port}: {exc}")
                self._wait(backoff.next())
                continue
            backoff.reset()
            try:
                self._session(cast(ByteStream, port))
            except (serial.SerialException, OSError) as exc:
                self._set_online(False, f"port lost: {exc}")
                self._reconnects += 1
            except Exception:  # a bug must not end this source for good: log, back off, reopen
                log.exception("source %s failed; reopening", self.spec.source)
                self._set_online(False, "internal error")
                self._wait(RETRY_MIN_S)
            finally:
                port.close()
        self.heartbeat.end()

    def _wait(self, seconds: float) -> None:
        self.heartbeat.beat(seconds)
        self._stop.wait(seconds)

    def _session(self, port: ByteStream) -> None:
        """Read one opened port until it fails or the source is stopped."""
        spec = self.spec
        decoder = spec.protocol.decoder()
        for command in spec.protocol.start_commands(spec.options):
            port.write(command)
        poll = spec.protocol.poll_command(spec.options)
        opened = time.monotonic()
        last_frame = opened
        next_poll = opened
        silent = False
        while not self._stop.is_set():
            self.heartbeat.beat()
            now = time.monotonic()
            if poll is not None and now >= next_poll:
                port.write(poll)
                next_poll = now + spec.poll_s
            data = port.read(max(1, port.in_waiting))
            if data:
                got_frame = self._decode(decoder.feed(data), warming=now - opened < spec.warmup_s)
                if got_frame:
                    last_frame, silent = now, False
            elif now - last_frame > spec.offline_after_s and not silent:
                silent = True
                self._timeouts += 1
                decoder.reset()
                self._set_online(False, f"no valid frame for {spec.offline_after_s:.1f} s")

    def _decode(self, items: list[Sample | Ack | FrameError], warming: bool) -> bool:
        """Hand decoded samples on; count errors. True if any valid frame arrived."""
        got = False
        for item in items:
            if isinstance(item, FrameError):
                self._bad_frames += 1
                log.debug("source %s: %s (%s)", self.spec.source, item, item.raw[:16].hex(" "))
                continue
            got = True
            events, samples = self.spec.link.accept(item) if self.spec.link else ([], _samples(item))
            for event in events:
                self._sink(event)
            if isinstance(item, Ack) and not samples:
                continue
            self._frames_ok += 1
            self._set_online(True, "frames arriving")
            for sample in samples:
                flags = sample.flags | ({"warming_up"} if warming else set())
                reading = Reading(self.spec.source, utc_now(), sample.values, frozenset(flags))
                self._last_reading = reading
                self._sink(reading)
        return got


def _samples(item: Sample | Ack) -> list[Sample]:
    return [item] if isinstance(item, Sample) else []
