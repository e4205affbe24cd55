"""Sensor-node logic: runs on MicroPython (ESP32, RP2040, the unix and wasm ports) and on CPython."""
