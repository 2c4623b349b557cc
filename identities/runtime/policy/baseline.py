"""The shipped baseline policy set. Every rule has an @id (what decisions cite) and an @explanation (what
the UI shows beside it); drafts must keep both, and `explanations()` reads them from any policy text."""

BASELINE_VERSION = "baseline-1"

BASELINE_POLICY = """
@id("deny-identity-not-active")
@explanation("An identity that is not active (suspended or retired) may not call any tool.")
forbid (principal, action, resource)
unless { principal.status == "active" };

@id("deny-acceptable-use-invalid")
@explanation("An identity needs an acceptable-use record in force; it is missing or has expired.")
forbid (principal, action, resource)
unless { principal.aup_valid };

@id("deny-tool-outside-acceptable-use")
@explanation("The tool is not among those the identity's acceptable-use record allows.")
forbid (principal, action, resource)
unless { principal.aup_tools.contains(resource.key) };

@id("deny-standing-privileged-high-risk")
@explanation("A high or critical identity (current tier) writes or administers through JIT, not standing access.")
forbid (principal, action in [Action::"call_write", Action::"call_admin"], resource)
when {
  ["high", "critical"].contains(principal.risk_tier) &&
  context.standing_covers && !context.jit_covers
}
unless { context.exceptions.contains("deny-standing-privileged-high-risk") };

@id("deny-production-secrets-without-jit")
@explanation("Tools that touch production secrets are reachable only through JIT, never standing access.")
forbid (principal, action, resource)
when { resource.production_secrets }
unless { context.jit_covers };

@id("deny-token-inactive")
@explanation("The presented token has expired or was revoked.")
forbid (principal, action, resource)
unless { context.token_active };

@id("deny-task-ended")
@explanation("The task this call belongs to has been completed; its tokens and grants ended with it.")
forbid (principal, action, resource)
unless { context.task_active };

@id("deny-outside-token-scope")
@explanation("The token's scope does not name this tool and action.")
forbid (principal, action, resource)
unless { context.token_scope_covers };

@id("allow-standing-entitlement")
@explanation("An active standing entitlement covers this tool, action and resource.")
permit (principal, action, resource)
when { context.standing_covers };

@id("allow-jit")
@explanation("An active JIT entitlement or grant for this task covers this tool, action and resource.")
permit (principal, action, resource)
when { context.jit_covers };
"""
