"""`edge-sim board`: a simulated MicroPython board (ESP32 or RP2040) on a pseudo-terminal.

Real, byte for byte: the serial line (a pty behind a symlink, opened by mpremote or pyserial as
they open /dev/ttyUSB0) and MicroPython's REPL protocol as `shared/runtime/pyexec.c` speaks it:
the friendly REPL (echo, `>>> `), Ctrl-A raw REPL (`raw REPL; CTRL-B to exit\\r\\n>`, Ctrl-D ->
`OK` + output + `\\x04` + traceback + `\\x04` + `>`), raw-paste mode (`\\x05A\\x01` -> `R\\x01`, a
256-byte flow-control window acknowledged with `\\x01`, `\\x04` at the end), Ctrl-B, Ctrl-C (a
KeyboardInterrupt in running code, as `micropython.kbd_intr` allows), soft reset (Ctrl-D) running
boot.py and -- from the friendly REPL or at power-on -- main.py. The file system is a directory.

Simulated: code runs under CPython, in a namespace whose `open`, `os`, `sys`, `time`, `hashlib`,
`binascii`, `select`, `gc`, `micropython` and `machine` behave like MicroPython's (errors as
`OSError: [Errno 2] ENOENT`, no `hexdigest`, `ticks_*` wrapping at 2**30). `machine.UART`,
`I2C`/`SoftI2C` and `Pin` reach simulated sensors wired as the board's /config.json says: PMS5003,
SDS011 and MaxBotix from `sim/serial` on UARTs, a BME280 register model on I2C, a tipping-bucket
rain gauge on a pin interrupt. `WDT` resets the board when not fed; `machine.reset()` resets it
(the RP2040's native USB port vanishes and returns meanwhile). A `.mpy` file is run from the source
it was compiled from, found by the name mpy-cross embeds, and only if recompiling that source gives
the same bytes. Ctrl-C reaches pure loops through a trace hook on board code. This is a simulator,
not a security sandbox: only run code you would run on your own machine.

Where things live:
  device.py       Board: the two threads (USB serial chip, CPU), boot and resets
  repl.py         the REPL protocol (friendly, raw, raw-paste) and boot.py/main.py
  interpreter.py  running board code, the Ctrl-C trace hook, MicroPython-style tracebacks
  imports.py      `import` from built-ins and the board's files; mpy.py: running .mpy files
  namespace.py    builtins and MicroPython's modules (os, sys, time, ..., machine)
  parts.py        machine.Pin, UART, I2C, WDT, Timer, RTC
  cpu.py          clock, Ctrl-C, watchdog, soft timers, reset causes
  console.py      the serial line's bytes; sys.stdin, sys.stdout, select.poll
  fs.py           the flash file system in a host directory
  wiring.py       which simulated sensor is on which bus; bme280.py, rain.py: the sensors
  kinds.py        ESP32 and RP2040 facts
  cli.py          the `edge-sim board` command
"""

from sim.board.cli import board
from sim.board.device import Board
from sim.board.mpy import mpy_source_name

__all__ = ["Board", "board", "mpy_source_name"]
