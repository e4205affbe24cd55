"""A fake `machine` module with behaviour: UARTs that carry bytes both ways, an I2C bus of register maps,
pins with edges, a watchdog that counts feeds. Stands in for the board's module in tests only.
"""

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

state = {"reset_cause": PWRON_RESET, "resets": 0, "wdt": None}
uarts = {}  # id -> the last UART built on it, so a test reaches what main.py built
attach = {}  # id -> a device to wire to the next UART built on that id
i2c_devices = {}  # address -> bytearray(256) register map, shared by every I2C bus


def reset_cause():
    return state["reset_cause"]


def reset():
    state["resets"] += 1


def unique_id():
    return b"\xde\xad\xbe\xef\x00\x42"


class Pin:
    IN = 0
    OUT = 1
    PULL_UP = 1
    IRQ_FALLING = 2
    IRQ_RISING = 4

    def __init__(self, id, mode=-1, pull=-1):
        if id == "bad":
            raise ValueError("invalid pin")
        self.id = id
        self.mode = mode
        self.handler = None
        self.levels = []  # every value written, in order
        self._value = 1 if pull == Pin.PULL_UP else 0

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = v
        self.levels.append(v)
        return None

    def irq(self, handler=None, trigger=IRQ_FALLING):
        self.handler = handler

    def edge(self):
        """A falling edge on the pin (a test closing the reed switch)."""
        self._value = 0
        if self.handler:
            self.handler(self)
        self._value = 1


class UART:
    INV_TX = 1
    INV_RX = 2

    def __init__(self, id, baudrate=9600, tx=None, rx=None, timeout=0, invert=0, **kw):
        self.id = id
        self.baudrate = baudrate
        self.tx = tx
        self.rx = rx
        self.invert = invert
        self.incoming = bytearray()  # what the wire holds for us to read
        self.written = bytearray()  # everything we sent
        self.device = attach.pop(id, None)  # optional: has on_write(bytes) and stream() -> bytes
        uarts[id] = self

    def read(self, n=-1):
        if self.device is not None:
            self.incoming.extend(self.device.stream())
        if not self.incoming:
            return None
        data = bytes(self.incoming)
        self.incoming = bytearray()
        return data

    def write(self, data):
        self.written.extend(data)
        if self.device is not None:
            self.device.on_write(bytes(data))
        return len(data)


class I2C:
    def __init__(self, id, scl=None, sda=None, freq=400000):
        self.id = id
        self.writes = []  # (addr, reg, bytes) in order

    def _regs(self, addr):
        if addr not in i2c_devices:
            raise OSError(19)  # ENODEV, as a real bus reports no ACK
        return i2c_devices[addr]

    def readfrom_mem_into(self, addr, reg, buf):
        regs = self._regs(addr)
        for i in range(len(buf)):
            buf[i] = regs[(reg + i) & 0xFF]

    def writeto_mem(self, addr, reg, data):
        regs = self._regs(addr)
        self.writes.append((addr, reg, bytes(data)))
        for i, b in enumerate(data):
            regs[(reg + i) & 0xFF] = b


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        state["wdt"] = self

    def feed(self):
        self.feeds += 1
