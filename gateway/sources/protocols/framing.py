"""The resynchronising framer the serial sensor protocols share; protocols supply only the facts.

A protocol describes its frames with a start byte, a function that says how long the frame
starting at the head of a buffer is (or that it is no frame, or that more bytes are needed), and
a function that decodes one complete frame or raises a `FrameError`. `ResyncDecoder` does the
rest, identically for every sensor:

- bytes outside any frame are collected and reported once per run, as one `MalformedFrame`,
  just before the next thing decoded, or in pieces of `MAX_JUNK` bytes if the run goes on;
- a candidate frame that fails to decode (bad checksum, bad payload) is reported as its error,
  and scanning resumes one byte after its start, because a real frame may begin inside it (after
  a truncated frame); its bytes are never reported a second time as garbage;
- `reset` drops the partial frame, whose bytes join the pending garbage run.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.sources.protocols.base import Ack, Decoded, FrameError, MalformedFrame, Sample, StreamDecoder

MAX_JUNK = 256  # skipped bytes per reported garbage run: bounds memory and error raw size

FrameLength = Callable[[bytearray], int | None]
"""For a buffer starting with the start byte: the frame length, 0 = not a frame start, None = need more."""
FrameDecoder = Callable[[bytes], Sample | Ack]
"""Decode one complete frame, raising a FrameError if it is not valid."""


class ResyncDecoder(StreamDecoder):
    """Resynchronising framer; a garbage run is reported once, as one MalformedFrame."""

    def __init__(self, name: str, start: int, frame_length: FrameLength, decode: FrameDecoder) -> None:
        """`name` prefixes garbage reports; `start` is the first byte of every frame."""
        self._name, self._start = name, start
        self._frame_length, self._decode = frame_length, decode
        self._buf = bytearray()
        self._junk = bytearray()  # skipped bytes not yet reported
        self._covered = 0  # leading bytes of _buf already reported inside a FrameError

    def reset(self) -> None:
        """Drop the partial frame; its bytes join the pending garbage run."""
        self._junk += self._buf[self._covered :]
        self._buf.clear()
        self._covered = 0

    def feed(self, data: bytes) -> list[Decoded]:
        """Consume `data`; return samples, acks and errors completed by it."""
        self._buf += data
        out: list[Decoded] = []
        while self._buf:
            start = self._buf.find(self._start)
            if start != 0:
                self._skip(len(self._buf) if start < 0 else start, out)
                continue
            length = self._frame_length(self._buf)
            if length is None:
                break
            if length == 0:
                self._skip(1, out)
            else:
                self._take(length, out)
        return out

    def _take(self, length: int, out: list[Decoded]) -> None:
        frame = bytes(self._buf[:length])
        try:
            result: Decoded = self._decode(frame)
        except FrameError as error:
            self._flush(out)
            out.append(error)
            # Rescan from the next byte: a real frame may start inside this one (e.g. after truncation).
            self._covered = max(self._covered, length)
            self._skip(1, out)
            return
        self._flush(out)
        out.append(result)
        del self._buf[:length]
        self._covered = max(0, self._covered - length)

    def _skip(self, count: int, out: list[Decoded]) -> None:
        reported = min(self._covered, count)
        self._covered -= reported
        self._junk += self._buf[reported:count]
        del self._buf[:count]
        while len(self._junk) >= MAX_JUNK:
            out.append(self._garbage(bytes(self._junk[:MAX_JUNK])))
            del self._junk[:MAX_JUNK]

    def _flush(self, out: list[Decoded]) -> None:
        if self._junk:
            out.append(self._garbage(bytes(self._junk)))
            self._junk.clear()

    def _garbage(self, raw: bytes) -> MalformedFrame:
        return MalformedFrame(f"{self._name}: bytes outside any frame", raw)
