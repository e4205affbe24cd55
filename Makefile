# Every target sets itself up (.ci/setup.sh is idempotent): a fresh machine needs only make.
VENV := .venv/bin
export PATH := $(CURDIR)/.venv/bin:/usr/sbin:$(PATH)

.PHONY: run test lint models bench eval fuzz fleet soak setup clean check-pi firmware release

setup:
	@.ci/setup.sh

run: setup
	@$(VENV)/python -m sim.run_all $(ARGS)

test: setup
	$(VENV)/pytest -q

lint: setup
	$(VENV)/ruff format --check gateway sim models tests
	$(VENV)/ruff check gateway sim models tests
	$(VENV)/mypy

models:
	@.ci/setup.sh --models
	$(VENV)/python -m models.air_quality.train
	$(VENV)/python -m models.flood.train
	$(VENV)/python -m models.pose.convert
	$(VENV)/python -m models.fall.train
	$(VENV)/python -m models.manifest
	$(VENV)/python -m models.release

# Signed node firmware images (gateway/tools/flash/images/<board>/, not in git) for `edge-gateway flash`,
# and a signed gateway release bundle (dist/edge-gateway-<version>.tar) for `edge-gateway update`. Both
# sign with the release key ($$EDGE_SIGNING_KEY or ~/.config/edge-gateway/release-signing.pem); neither
# makes one. The release downloads the dependencies' aarch64 wheels (~150 MB): not part of `make test`.
firmware: setup
	$(VENV)/python -m gateway.tools.release firmware

release: firmware
	$(VENV)/python -m gateway.tools.release bundle

# Scores the detectors on evaluation-only real data in ../shared/datasets (never used to train or tune).
eval: setup
	$(VENV)/python -m models.flood.evaluate_events
	$(VENV)/python -m models.fall.evaluate

# Raspberry Pi OS (Debian 12, aarch64, CPython 3.11): does every pinned runtime dependency, and each of
# theirs, have a binary wheel? Not part of `make test`: it downloads ~100 MB of aarch64 wheels from PyPI.
check-pi: setup
	deploy/check_aarch64.sh $(VENV)/python

bench: setup
	$(VENV)/python -m tests.bench

# Coverage-guided fuzzing (atheris) of every byte parser, the config and policy loaders and remote
# commands, FUZZ_SECONDS per target; corpora, crashing inputs and logs in run/fuzz/. `make test` runs
# the same targets for a few seconds each (tests/unit/test_fuzz_targets.py).
FUZZ_SECONDS ?= 60
fuzz: setup
	$(VENV)/python -m tests.fuzz --seconds $(FUZZ_SECONDS) --out run/fuzz $(ARGS)

# Many gateways on one broker (mutual TLS, generated ACL): connect time, messages/s held, latency,
# broker CPU and memory, what breaks first. Table on stdout, figures in run/fleet/fleet.json; docs/fleet.md.
FLEET ?= 50,200,500
fleet: setup
	$(VENV)/python -m tests.fleet --gateways $(FLEET) $(ARGS)

# The fault soak (tests/soak/): a simulated site, a real Mosquitto behind a link proxy, and faults on a
# seeded schedule for SOAK_MINUTES; figures (soak.json, soak.txt) and a plot of memory and delivery
# delay (soak.svg) in run/soak/. `make test` runs 5 minutes of it (tests/soak/test_soak.py). The gateway is
# SIGKILLed in every 6th cycle of faults only (~every 14 min), so its memory trend spans long lives.
SOAK_MINUTES ?= 60
SOAK_SEED ?= 1
soak: setup
	$(VENV)/python -m tests.soak --minutes $(SOAK_MINUTES) --seed $(SOAK_SEED) --kill-every 6 --out run/soak $(ARGS)

clean:
	rm -rf .venv .mypy_cache .ruff_cache .pytest_cache .hypothesis run firmware/node_modules
