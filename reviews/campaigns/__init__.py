"""Review campaigns' set-wise machinery: the frozen definition (`definition`), the SQL that fixes a run's set
in scope, computes each item's recommendation and evidence and routes it to a reviewer (`sql`), and the
figures a preview shows (`preview`). Writes are reviews.services.campaigns and reviews.services.launching."""
