"""The statements of a launch, set-wise (no row-by-row loop), with the parameters of definition.Facts.params.

- `EXTRACT` fixes a run's set in ONE statement: the live entitlements the scope selects (and, when the
  campaign reviews AgentIAM's own privileged roles, each active holding of those roles), numbered 1..n into
  reviews_campaignscopeentry. The "unused for N days" and "outside acceptable use" filters are evaluated in
  the same statement on the same facts the items get.
- `ITEMS` creates the review items of one range of that set (resumable batches; ON CONFLICT DO NOTHING on
  the unique (run, entitlement, stage) makes a re-run create nothing twice), each with its frozen
  recommendation, reasons, evidence and reviewer.
- `PREVIEW` computes the same items without writing, for the figures a preview shows.

Usage comes from allow decisions in the decision log (identity, tool key, action) and from
identities_entitlementusage. Only the decision log proves non-use, and only for a tool it covers — one the
gateway asked `decide` about — since long enough: covered since at most `unused_before`. Elsewhere the item
says "no usage data" and no revoke is recommended for that reason."""

# ruff: noqa: S608 - the statements are assembled from this module's own constants, never from input; values
# are always parameters.
from __future__ import annotations

__all__ = ["EXTRACT", "EXTRACT_FILTERED", "ITEMS", "PREVIEW", "ROLE_ITEMS"]

# The live entitlements the scope selects (parameters: see definition.Facts.params).
_CANDIDATES = """
candidates AS (
    SELECT NULL::int AS seq, e.id AS entitlement_id
      FROM identities_entitlement e
      JOIN identities_identity i ON i.id = e.identity_id
      JOIN identities_tool t ON t.id = e.tool_id
     WHERE %(include_entitlements)s
       AND e.revoked_at IS NULL AND e.granted_at <= %(at)s AND (e.expires_at IS NULL OR e.expires_at > %(at)s)
       AND i.status <> 'decommissioned'
       AND (cardinality(%(kinds)s::text[]) = 0 OR i.kind = ANY(%(kinds)s::text[]))
       AND (cardinality(%(tiers)s::text[]) = 0 OR i.risk_tier = ANY(%(tiers)s::text[]))
       AND (cardinality(%(environments)s::text[]) = 0 OR i.environment = ANY(%(environments)s::text[]))
       AND (cardinality(%(sensitivities)s::text[]) = 0 OR t.sensitivity = ANY(%(sensitivities)s::text[]))
       AND (cardinality(%(actions)s::text[]) = 0 OR e.action = ANY(%(actions)s::text[]))
       AND (cardinality(%(systems)s::bigint[]) = 0 OR t.system_id = ANY(%(systems)s::bigint[]))
       AND (cardinality(%(tools)s::bigint[]) = 0 OR t.id = ANY(%(tools)s::bigint[]))
       AND (NOT %(standing_only)s OR e.mode = 'standing')
       AND (cardinality(%(owners)s::int[]) = 0 OR EXISTS (
               SELECT 1 FROM identities_ownership o
                WHERE o.identity_id = e.identity_id AND o.role = 'accountable'
                  AND o.person_id = ANY(%(owners)s::int[])
                  AND o.valid_from <= %(at)s AND (o.valid_to IS NULL OR o.valid_to > %(at)s)))
)"""

# From `src(entitlement_id)`: each entitlement's facts, recommendation and reviewer. `{src}` is a CTE name.
_FACTS = """
ent AS (
    SELECT s.seq, e.id AS entitlement_id, e.identity_id, e.tool_id, e.action, e.mode, e.granted_by_id, e.granted_at,
           i.person_id AS holder_id, i.risk_tier, i.is_orphaned, i.kind AS identity_kind, t.key AS tool_key,
           t.data_class, COALESCE(r.requested_by_id, bg.person_id) AS requested_by_id,
           CASE %(independent)s WHEN 'all' THEN true WHEN 'privileged' THEN e.action <> 'read' ELSE false END
               AS independent
      FROM {src} s
      JOIN identities_entitlement e ON e.id = s.entitlement_id
      JOIN identities_identity i ON i.id = e.identity_id
      JOIN identities_tool t ON t.id = e.tool_id
      LEFT JOIN reviews_elevationrequest r ON e.grant_id IS NOT NULL AND r.grant_id = e.grant_id
      LEFT JOIN reviews_breakglass bg ON e.grant_id IS NOT NULL AND bg.grant_id = e.grant_id
),
owner AS (
    SELECT DISTINCT ON (o.identity_id) o.identity_id, o.person_id
      FROM identities_ownership o
     WHERE o.role = 'accountable' AND o.valid_from <= %(at)s AND (o.valid_to IS NULL OR o.valid_to > %(at)s)
       AND o.identity_id IN (SELECT identity_id FROM ent)
     ORDER BY o.identity_id, o.valid_from DESC
),
aup AS (
    SELECT DISTINCT ON (a.identity_id) a.identity_id, a.version, a.allowed_tools, a.data_classes, a.valid_until
      FROM identities_acceptableuse a
     WHERE a.valid_from <= %(at)s AND a.approved_at <= %(at)s AND a.identity_id IN (SELECT identity_id FROM ent)
     ORDER BY a.identity_id, a.version DESC
),
tool_patterns AS (
    SELECT m.tool_id, array_agg(m.pattern) AS patterns
      FROM unnest(%(match_tools)s::bigint[], %(match_patterns)s::text[]) AS m(tool_id, pattern)
     GROUP BY m.tool_id
),
covered AS (
    SELECT c.tool_key, c.since
      FROM unnest(%(covered_keys)s::text[], %(covered_since)s::timestamptz[]) AS c(tool_key, since)
),
used_log AS (
    SELECT d.identity_id, d.tool_key, d.action, max(d.decided_at) AS last_at
      FROM runtime_policydecision d
     WHERE d.decision = 'allow' AND d.decided_at > %(since)s AND d.decided_at <= %(at)s
       AND d.identity_id IN (SELECT identity_id FROM ent)
     GROUP BY d.identity_id, d.tool_key, d.action
),
used_table AS (
    SELECT u.entitlement_id, max(u.last_used_at) AS last_at
      FROM identities_entitlementusage u
     WHERE u.entitlement_id IN (SELECT entitlement_id FROM ent) AND u.last_used_at <= %(at)s
     GROUP BY u.entitlement_id
),
fact AS (
    SELECT ent.*, owner.person_id AS owner_id, op.manager_id AS manager_id, aup.version AS aup_version,
           aup.valid_until AS aup_valid_until, covered.since AS covered_since, ul.last_at AS log_last_at,
           ut.last_at AS table_last_at, GREATEST(ul.last_at, ut.last_at) AS last_used_at,
           (aup.identity_id IS NOT NULL AND aup.valid_until IS NOT NULL AND aup.valid_until <= %(at)s) AS aup_expired,
           (aup.identity_id IS NOT NULL AND (aup.valid_until IS NULL OR aup.valid_until > %(at)s)
            AND COALESCE(aup.allowed_tools::text[] && tp.patterns, false)
            AND (cardinality(aup.data_classes) = 0 OR ent.data_class = ANY(aup.data_classes))) AS in_aup,
           (covered.since IS NOT NULL AND covered.since <= %(unused_before)s) AS usage_covered,
           (ent.mode = 'standing' AND ent.action IN ('write', 'admin') AND ent.risk_tier IN ('high', 'critical')
            AND NOT EXISTS (SELECT 1 FROM identities_riskexception x
                             WHERE x.entitlement_id = ent.entitlement_id AND x.revoked_at IS NULL
                               AND x.valid_until > %(at)s)) AS privileged_standing
      FROM ent
      LEFT JOIN owner ON owner.identity_id = ent.identity_id
      LEFT JOIN identities_profile op ON op.user_id = owner.person_id
      LEFT JOIN aup ON aup.identity_id = ent.identity_id
      LEFT JOIN tool_patterns tp ON tp.tool_id = ent.tool_id
      LEFT JOIN covered ON covered.tool_key = ent.tool_key
      LEFT JOIN used_log ul ON ul.identity_id = ent.identity_id AND ul.tool_key = ent.tool_key
                           AND ul.action = ent.action
      LEFT JOIN used_table ut ON ut.entitlement_id = ent.entitlement_id
),
judged AS (
    SELECT fact.*,
           (usage_covered AND (last_used_at IS NULL OR last_used_at < %(unused_before)s)) AS unused,
           (last_used_at IS NOT NULL AND last_used_at >= %(unused_before)s) AS used_recently
      FROM fact
),
routed AS (
    SELECT judged.*,
           CASE WHEN %(rule)s = 'owner' AND owner_id IS NOT NULL AND pu.is_active AND pp.status = 'active'
                     AND owner_id IS DISTINCT FROM holder_id AND owner_id IS DISTINCT FROM requested_by_id
                     AND NOT (independent AND owner_id IS NOT DISTINCT FROM granted_by_id) THEN 'owner'
                WHEN %(rule)s IN ('owner', 'manager') AND judged.manager_id IS NOT NULL AND mu.is_active
                     AND mp.status = 'active' AND judged.manager_id IS DISTINCT FROM holder_id
                     AND judged.manager_id IS DISTINCT FROM requested_by_id
                     AND NOT (independent AND judged.manager_id IS NOT DISTINCT FROM granted_by_id) THEN 'manager'
                ELSE NULL END AS step
      FROM judged
      LEFT JOIN auth_user pu ON pu.id = judged.owner_id
      LEFT JOIN identities_profile pp ON pp.user_id = judged.owner_id
      LEFT JOIN auth_user mu ON mu.id = judged.manager_id
      LEFT JOIN identities_profile mp ON mp.user_id = judged.manager_id
),
item AS (
    SELECT routed.*, via.reviewer_id, COALESCE(via.routed_via, 'unrouted') AS routed_via,
           array_remove(ARRAY[
               CASE WHEN unused THEN 'unused' END,
               CASE WHEN aup_version IS NULL THEN 'no_aup' END,
               CASE WHEN aup_expired THEN 'aup_expired' END,
               CASE WHEN aup_version IS NOT NULL AND NOT aup_expired AND NOT in_aup THEN 'outside_aup' END,
               CASE WHEN privileged_standing THEN 'privileged_standing' END,
               CASE WHEN is_orphaned THEN 'orphaned' END,
               CASE WHEN used_recently THEN 'used_recently' END,
               CASE WHEN NOT usage_covered AND NOT used_recently THEN 'no_usage_data' END
           ], NULL) AS reasons
      FROM routed
      CROSS JOIN LATERAL (
          SELECT CASE step WHEN 'owner' THEN owner_id WHEN 'manager' THEN manager_id
                      ELSE (SELECT min(f) FROM unnest(%(fallback)s::int[]) AS f
                             WHERE f IS DISTINCT FROM holder_id AND f IS DISTINCT FROM requested_by_id
                               AND NOT (independent AND f IS NOT DISTINCT FROM granted_by_id)) END AS reviewer_id,
                 CASE WHEN step IS NOT NULL THEN step
                      WHEN EXISTS (SELECT 1 FROM unnest(%(fallback)s::int[]) AS f
                                    WHERE f IS DISTINCT FROM holder_id AND f IS DISTINCT FROM requested_by_id
                                      AND NOT (independent AND f IS NOT DISTINCT FROM granted_by_id))
                      THEN 'fallback' END AS routed_via
      ) AS via
),
decided AS (
    SELECT item.*,
           CASE WHEN reasons && ARRAY['unused', 'no_aup', 'aup_expired', 'outside_aup', 'privileged_standing',
                                      'orphaned'] THEN 'revoke'
                WHEN used_recently AND in_aup THEN 'keep' ELSE 'none' END AS recommendation,
           concat_ws('; ',
               CASE WHEN unused AND last_used_at IS NULL
                    THEN format('Not used in the last %%s days (no allow decision since the decision log began '
                                'covering %%s on %%s)', %(unused_days)s, tool_key, to_char(covered_since, 'YYYY-MM-DD'))
                    WHEN unused THEN format('Not used in %%s days (last used %%s)', %(unused_days)s,
                                            to_char(last_used_at, 'YYYY-MM-DD')) END,
               CASE WHEN aup_version IS NULL THEN 'The identity has no acceptable-use record' END,
               CASE WHEN aup_expired THEN format('Its acceptable-use record (v%%s) expired on %%s', aup_version,
                                                 to_char(aup_valid_until, 'YYYY-MM-DD')) END,
               CASE WHEN aup_version IS NOT NULL AND NOT aup_expired AND NOT in_aup
                    THEN format('Outside the acceptable-use record (v%%s): %%s is not allowed', aup_version, tool_key)
               END,
               CASE WHEN privileged_standing THEN format('Standing %%s on a %%s-risk identity', action, risk_tier) END,
               CASE WHEN is_orphaned THEN 'The identity has no accountable owner' END,
               CASE WHEN used_recently AND in_aup AND NOT (reasons && ARRAY['privileged_standing', 'orphaned'])
                    THEN format('Used on %%s, within acceptable use', to_char(last_used_at, 'YYYY-MM-DD')) END,
               CASE WHEN NOT usage_covered AND NOT used_recently AND covered_since IS NULL
                    THEN format('No usage data: the decision log does not cover %%s', tool_key)
                    WHEN NOT usage_covered AND NOT used_recently
                    THEN format('No usage data for %%s days: the decision log covers %%s only since %%s',
                                %(unused_days)s, tool_key, to_char(covered_since, 'YYYY-MM-DD')) END
           ) AS reason
      FROM item
)"""

_EVIDENCE = """jsonb_build_object(
    'extracted_at', %(at)s::timestamptz, 'tool', tool_key, 'action', action, 'mode', mode,
    'identity_kind', identity_kind, 'risk_tier', risk_tier, 'orphaned', is_orphaned,
    'granted_at', granted_at, 'granted_by', granted_by_id, 'requested_by', requested_by_id,
    'last_used_at', last_used_at,
    'usage_source', CASE WHEN last_used_at IS NULL THEN NULL
                         WHEN log_last_at IS NOT DISTINCT FROM last_used_at THEN 'decision_log' ELSE 'usage' END,
    'usage_covered', usage_covered, 'covered_since', covered_since, 'unused_days', %(unused_days)s,
    'days_since_use', CASE WHEN last_used_at IS NULL THEN NULL
                           ELSE floor(extract(epoch FROM (%(at)s::timestamptz - last_used_at)) / 86400)::int END,
    'aup_version', aup_version, 'aup_valid_until', aup_valid_until, 'in_aup', in_aup,
    'privileged_standing', privileged_standing, 'owner', owner_id)"""

_ROLE_HOLDINGS = """
    SELECT 1, ug.user_id, NULL, ug.user_id, g.name
      FROM auth_user_groups ug
      JOIN auth_group g ON g.id = ug.group_id
      JOIN auth_user u ON u.id = ug.user_id
     WHERE g.name = ANY(%(roles)s::text[]) AND u.is_active"""
_INTO_ENTRIES = """
INSERT INTO reviews_campaignscopeentry (run_id, seq, entitlement_id, role_holder_id, role)
SELECT %(run)s, row_number() OVER (ORDER BY x.kind, x.key, x.role), x.entitlement_id, x.role_holder_id, x.role
  FROM ("""

# Without the usage and acceptable-use filters the set needs no facts: the plain statement.
EXTRACT = (
    "WITH "
    + _CANDIDATES
    + _INTO_ENTRIES
    + """
    SELECT 0 AS kind, c.entitlement_id AS key, c.entitlement_id, NULL::int AS role_holder_id, '' AS role
      FROM candidates c
    UNION ALL"""
    + _ROLE_HOLDINGS
    + "\n  ) AS x"
)

EXTRACT_FILTERED = (
    "WITH "
    + _CANDIDATES
    + ", "
    + _FACTS.format(src="candidates")
    + _INTO_ENTRIES
    + """
    SELECT 0 AS kind, d.entitlement_id AS key, d.entitlement_id, NULL::int AS role_holder_id, '' AS role
      FROM judged d
     WHERE (NOT %(unused_filter)s OR d.unused) AND (NOT %(outside_filter)s OR NOT d.in_aup)
    UNION ALL"""
    + _ROLE_HOLDINGS
    + "\n  ) AS x"
)

ITEMS = (
    "WITH src AS (SELECT s.seq, s.entitlement_id FROM reviews_campaignscopeentry s WHERE s.run_id = %(run)s "
    "AND s.seq > %(lo)s AND s.seq <= %(hi)s AND s.entitlement_id IS NOT NULL), "
    + _FACTS.format(src="src")
    + """
INSERT INTO reviews_reviewitem (
    uuid, run_id, stage, seq, entitlement_id, identity_id, role_holder_id, role, holder_person_id, requested_by_id,
    granted_by_id, independent, reviewer_id, routed_via, reassign_note, due_at, recommendation, reasons, reason,
    flagged, evidence, state, decision, decided_via, reduce_jit_only, comment, bulk, fulfilment_status,
    fulfilment_error, fulfilment_attempts)
SELECT gen_random_uuid(), %(run)s, 1, d.seq, d.entitlement_id, d.identity_id, NULL, '', d.holder_id,
       d.requested_by_id, d.granted_by_id, d.independent, d.reviewer_id, d.routed_via, '', %(due_at)s,
       d.recommendation, d.reasons, d.reason, d.recommendation = 'revoke', """
    + _EVIDENCE
    + """, 'pending', '', '', false, '', false, '', '', 0
  FROM decided d
ON CONFLICT DO NOTHING"""
)

# AgentIAM's own roles: the holder's manager reviews (then the fallback group); never the holder. A holder
# who has not signed in for N days is recommended for revoke; one who did, kept.
_ROLE_ROWS = """
role_rows AS (
    SELECT s.seq, s.role_holder_id, s.role, u.last_login, p.manager_id, mu.is_active AND mp.status = 'active'
               AS manager_active,
           (u.last_login IS NULL OR u.last_login < %(unused_before)s) AS idle
      FROM reviews_campaignscopeentry s
      JOIN auth_user u ON u.id = s.role_holder_id
      LEFT JOIN identities_profile p ON p.user_id = s.role_holder_id
      LEFT JOIN auth_user mu ON mu.id = p.manager_id
      LEFT JOIN identities_profile mp ON mp.user_id = p.manager_id
     WHERE s.run_id = %(run)s AND s.seq > %(lo)s AND s.seq <= %(hi)s AND s.role_holder_id IS NOT NULL
),
role_items AS (
    SELECT r.*, CASE WHEN %(rule)s IN ('owner', 'manager') AND r.manager_id IS NOT NULL AND r.manager_active
                          AND r.manager_id <> r.role_holder_id THEN r.manager_id
                     ELSE (SELECT min(f) FROM unnest(%(fallback)s::int[]) AS f WHERE f <> r.role_holder_id) END
               AS reviewer_id,
           CASE WHEN %(rule)s IN ('owner', 'manager') AND r.manager_id IS NOT NULL AND r.manager_active
                     AND r.manager_id <> r.role_holder_id THEN 'manager'
                WHEN EXISTS (SELECT 1 FROM unnest(%(fallback)s::int[]) AS f WHERE f <> r.role_holder_id)
                THEN 'fallback' ELSE 'unrouted' END AS routed_via
      FROM role_rows r
)"""

ROLE_ITEMS = (
    "WITH "
    + _ROLE_ROWS
    + """
INSERT INTO reviews_reviewitem (
    uuid, run_id, stage, seq, entitlement_id, identity_id, role_holder_id, role, holder_person_id, requested_by_id,
    granted_by_id, independent, reviewer_id, routed_via, reassign_note, due_at, recommendation, reasons, reason,
    flagged, evidence, state, decision, decided_via, reduce_jit_only, comment, bulk, fulfilment_status,
    fulfilment_error, fulfilment_attempts)
SELECT gen_random_uuid(), %(run)s, 1, r.seq, NULL, NULL, r.role_holder_id, r.role, r.role_holder_id, NULL, NULL,
       false, r.reviewer_id, r.routed_via, '', %(due_at)s,
       CASE WHEN r.idle THEN 'revoke' ELSE 'keep' END,
       CASE WHEN r.idle THEN ARRAY['unused'] ELSE ARRAY['used_recently'] END,
       CASE WHEN r.last_login IS NULL THEN format('AgentIAM role %%s: never signed in', r.role)
            WHEN r.idle THEN format('AgentIAM role %%s: not signed in for %%s days (last %%s)', r.role,
                                    %(unused_days)s, to_char(r.last_login, 'YYYY-MM-DD'))
            ELSE format('AgentIAM role %%s: signed in on %%s', r.role, to_char(r.last_login, 'YYYY-MM-DD')) END,
       r.idle,
       jsonb_build_object('extracted_at', %(at)s::timestamptz, 'role', r.role, 'last_login', r.last_login,
                          'unused_days', %(unused_days)s, 'manager', r.manager_id),
       'pending', '', '', false, '', false, '', '', 0
  FROM role_items r
ON CONFLICT DO NOTHING"""
)

# What a preview shows: the same items, counted, without writing. One row per reviewer (NULL: unrouted).
PREVIEW = (
    "WITH "
    + _CANDIDATES
    + ", "
    + _FACTS.format(src="candidates")
    + """,
chosen AS (
    SELECT d.reviewer_id, d.recommendation, d.identity_id
      FROM decided d
     WHERE (NOT %(unused_filter)s OR d.unused) AND (NOT %(outside_filter)s OR NOT d.in_aup)
),
holders AS (
    SELECT ug.user_id, g.name, p.manager_id
      FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id JOIN auth_user u ON u.id = ug.user_id
      LEFT JOIN identities_profile p ON p.user_id = ug.user_id
     WHERE g.name = ANY(%(roles)s::text[]) AND u.is_active
),
everything AS (
    SELECT reviewer_id, recommendation, identity_id FROM chosen
    UNION ALL
    SELECT CASE WHEN %(rule)s IN ('owner', 'manager') AND h.manager_id IS NOT NULL AND h.manager_id <> h.user_id
                THEN h.manager_id
                ELSE (SELECT min(f) FROM unnest(%(fallback)s::int[]) AS f WHERE f <> h.user_id) END,
           'none', NULL
      FROM holders h
)
SELECT reviewer_id, count(*) AS items, count(*) FILTER (WHERE recommendation = 'revoke') AS flagged,
       count(*) FILTER (WHERE recommendation = 'keep') AS keep, count(DISTINCT identity_id) AS identities
  FROM everything
 GROUP BY reviewer_id
 ORDER BY count(*) DESC, reviewer_id"""
)
