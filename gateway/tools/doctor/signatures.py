"""The doctor's trust check: do the models and the policy verify against the configured key, exactly
as the gateway verifies them at start (`gateway.trust`), and does every camera's person model exist?"""

from __future__ import annotations

from gateway.config import GatewayConfig
from gateway.tools.doctor.report import Finding, Status
from gateway.trust import Untrusted, load_models, load_policy
from gateway.yamlfile import ConfigError

REFUSED = "a signed file was changed or its manifest is not signed by trust.public_key: reinstall it (or re-sign it with make models)"


def check_signatures(config: GatewayConfig) -> list[Finding]:
    """One finding for the models, one for the policy."""
    trust = config.trust
    try:
        models = load_models(trust.public_key, trust.models_dir)
    except Untrusted as exc:
        model = Finding("models", str(trust.models_dir), Status.FAIL, str(exc), REFUSED)
    else:
        names = sorted(ref.name for ref in models.value.refs())
        missing = sorted(
            {c.fall.person_model for c in config.cameras if c.fall.person_model} - set(models.value.people)
        )
        found = f"{len(names)} models verified (manifest {models.version}): {', '.join(names)}"
        model = (
            Finding(
                "models",
                str(trust.models_dir),
                Status.FAIL,
                f"{found}; not listed: {', '.join(missing)}",
                "sign the person model into the manifest or fix cameras[].fall.person_model",
            )
            if missing
            else Finding("models", str(trust.models_dir), Status.OK, found)
        )
    where = str(config.policy or "shipped policy")
    try:
        policy = load_policy(config.policy, trust.public_key)
    except Untrusted as exc:
        return [model, Finding("policy", where, Status.FAIL, str(exc), REFUSED)]
    except ConfigError as exc:
        return [
            model,
            Finding("policy", where, Status.FAIL, exc.errors[0], "fix the policy file and sign it again"),
        ]
    found = f"policy {policy.version} verified: {len(policy.value.actors)} actors"
    return [model, Finding("policy", where, Status.OK, found)]
