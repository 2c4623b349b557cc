"""The runtime control plane: workload proofs, remote key sets, and policy decisions.

The modules here are pure cores (typed inputs in, a result or an error with a reason out); the runtime
services feed them from the registry and persist what they return.
"""
