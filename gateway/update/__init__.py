"""Signed updates of the gateway itself: release bundles, side-by-side versions, health and rollback.

bundle.py (the signed tar), fetch.py (file or LAN URL), versions.py (versions/<v> and `current`),
force.py (an operator's signed permission to go back), health.py (is the new version ready?),
apply.py (the whole `edge-gateway update`), settings.py (the config's `update:` section).
"""
