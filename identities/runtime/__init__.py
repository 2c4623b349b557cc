"""The runtime control plane: workload proofs, remote key sets, tokens and policy decisions.

The modules at this level without Django models (proofs, provenance, keys, jwks, policy/) are pure cores:
typed inputs in, a result or an error with a reason out. The Django app around them (label `runtime`:
models/, services/, views/, lookups) feeds them from the registry and persists what they return.
"""
