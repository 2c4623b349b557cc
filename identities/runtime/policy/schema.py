"""The Cedar schema every policy version is validated against.

One action per tool action keeps rules readable (`action in [Action::"call_write", Action::"call_admin"]`).
Cedar has no glob, so scope matching and every clock comparison happen in Python before the call and
arrive as context booleans; policies then read as plain statements about them.
"""

ACTIONS = {
    "read": "call_read",
    "write": "call_write",
    "admin": "call_admin",
    "execute": "call_execute",
}

SCHEMA = """
// A governed principal; attributes are its registry state at decision time.
entity Identity = {
  kind: String,            // agent / service_account / human
  status: String,          // active / suspended / ...
  risk_tier: String,       // low / medium / high / critical, the CURRENT tier
  environment: String,     // dev / test / staging / prod
  aup_valid: Bool,         // an acceptable-use record is in force at decision time
  aup_tools: Set<String>,  // tool keys that record allows
  owners_active: Bool,     // at least one active accountable owner
};

entity Tool = {
  key: String,
  sensitivity: String,
  production: Bool,
  production_secrets: Bool,
};

action call_read, call_write, call_admin, call_execute appliesTo {
  principal: Identity,
  resource: Tool,
  context: {
    now: Long,                  // seconds since the epoch, the clock the decision is made at
    task: String,               // the task id, "" when none
    task_active: Bool,          // no task, or a task not yet completed
    token_active: Bool,         // no token, or a token neither expired nor revoked
    token_scope_covers: Bool,   // no token, or the token's scope names this tool and action
    environment: String,
    chain_depth: Long,
    actor: String,              // the current actor (RFC 8693 act), "" when the subject acts itself
    act_chain: Set<String>,     // every actor in the act chain
    standing_covers: Bool,      // an active standing entitlement covers tool, action and resource
    jit_covers: Bool,           // an active JIT entitlement (and its grant, for this task) covers it
    grant_covers: Bool,         // ... and that JIT entitlement came from an active grant
    entitlement_covers: Bool,   // standing_covers || jit_covers
    exceptions: Set<String>,    // rule ids with an accepted exception in force for this call
  },
};
"""
