"""`edge-gateway doctor`: a technician's check of everything a gateway needs, with the next step for each.

command.py     the command: config first, then ports, cameras and broker at once, then the rest
probe.py       which sensor answers on a serial port (every registered protocol listens and asks)
ports.py       the serial verdicts: answers as configured, another sensor, silent, swapped ports
cameras.py     a camera opened as the gateway opens it: resolution and frame rate, bounded
broker.py      TCP, TLS, MQTT 5 CONNECT, and the device certificate
signatures.py  models and policy verified by gateway.trust
system.py      the clock (NTP, and against files written earlier) and the storage's room
report.py      findings as a table or as JSON, and the exit code
"""

from gateway.tools.doctor.command import doctor
from gateway.tools.doctor.report import Finding, Status

__all__ = ["Finding", "Status", "doctor"]
