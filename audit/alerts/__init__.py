"""Behavioural monitoring: per-identity baselines, pure detectors over action events, alerts and their triage
(label `audit_alerts`)."""
