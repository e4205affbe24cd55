"""Every doctor check in the report's order: the config first (with the gateway's own loader); then,
at the same time, every serial port, every camera and the broker, and meanwhile the signed models
and policy; then the clock and the disk."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2

from gateway.config import GatewayConfig, load_config
from gateway.tools.doctor.broker import check_broker
from gateway.tools.doctor.cameras import check_camera
from gateway.tools.doctor.ports import PortResult, check_sensor, cross_check, subject
from gateway.tools.doctor.report import Finding, Status
from gateway.tools.doctor.signatures import check_signatures
from gateway.tools.doctor.system import check_clock, check_disk
from gateway.yamlfile import ConfigError


def check_config(path: Path) -> tuple[Finding, GatewayConfig | None]:
    """The config, loaded as `run` loads it."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        more = f" (and {len(exc.errors) - 1} more)" if len(exc.errors) > 1 else ""
        found = f"{exc.errors[0]}{more}"
        action = f"edge-gateway check-config {path} lists every error"
        return Finding("config", str(path), Status.FAIL, found, action, {"errors": exc.errors}), None
    found = f"site {config.site}, gateway {config.gateway}: {len(config.sensors)} sensors, {len(config.cameras)} cameras"
    return Finding("config", str(path), Status.OK, found), config


def _probe_ports(config: GatewayConfig, pool: ThreadPoolExecutor) -> list[Future[PortResult] | PortResult]:
    """Each sensor's probe, started now; a port named twice is probed once."""
    first: dict[str, str] = {}
    jobs: list[Future[PortResult] | PortResult] = []
    for index, sensor in enumerate(config.sensors):
        if sensor.port in first:
            found = f"the same port as {first[sensor.port]}: one port carries one sensor"
            jobs.append(
                PortResult(
                    sensor,
                    Finding("serial", subject(sensor), Status.FAIL, found, f"fix sensors[{index}].port"),
                )
            )
        else:
            first[sensor.port] = sensor.id
            jobs.append(pool.submit(check_sensor, sensor, index))
    return jobs


def run_checks(path: Path) -> list[Finding]:
    """Every check, in the order of the report."""
    found, config = check_config(path)
    if config is None:
        return [found, check_clock([path])]
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # a camera finding says why it failed
    try:
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="doctor") as pool:
            ports = _probe_ports(config, pool)
            cameras = [pool.submit(check_camera, camera, i) for i, camera in enumerate(config.cameras)]
            broker = pool.submit(check_broker, config)
            signatures = check_signatures(config)
            serial = cross_check([job if isinstance(job, PortResult) else job.result() for job in ports])
            findings = [found, *serial, *(job.result() for job in cameras), *broker.result(), *signatures]
    finally:
        cv2.utils.logging.setLogLevel(level)
    files = [path, config.storage, Path(__file__)]
    return [*findings, check_clock(files), check_disk(config.storage)]
