"""In-process policy decision vs bare cedarpy, on the same parsed policies and entities (issue 5 targets).

    .venv/bin/python bench/bench_policy.py [--rounds 20000] [--batch 100]

Single: PolicyEvaluator.decide with the entities cached (it still builds the context from snapshots, scope
matching included) against cedarpy.is_authorized given the already-built request and a parsed Entities
handle. Batch: decide_batch per decision against is_authorized_batch per decision. The two sides run
interleaved so drift on a shared machine hits both. Targets: p50 ≤ 2x bare, p99 ≤ 1 ms, batch ≤ 2x bare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cedarpy

from identities.runtime.policy import BASELINE_POLICY, PolicyEvaluator
from identities.runtime.policy.cases import example_request, grant, identity, jit, standing


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def batch_requests(size: int):
    who = identity(risk_tier="medium")
    kinds = [
        {"tool": "github.read_repo", "action": "read"},
        {"tool": "github.create_pull_request", "action": "write"},
        {"tool": "vault.read_secret", "action": "read", "resource": {},
         "entitlements": (jit("vault.read_secret", "read"),), "grants": (grant(),)},
        {"tool": "slack.post_message", "action": "read", "entitlements": (standing("slack.post_message", "read"),)},
    ]  # fmt: skip
    return [example_request(identity=who, **kinds[i % len(kinds)]) for i in range(size)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--batch-rounds", type=int, default=300)
    args = parser.parse_args()

    evaluator = PolicyEvaluator()
    evaluator.ensure("bench", BASELINE_POLICY)
    policies = cedarpy.PolicySet.from_str(BASELINE_POLICY)
    # A realistic request: several entitlements to scan, one of them scoped by a glob.
    request = example_request(
        entitlements=(
            standing("github.create_pull_request", "write"),
            standing("slack.post_message", "read"),
            standing("github.read_repo", "read", {"repo": "acme/*", "branch": "release/**"}),
        ),
        resource={"repo": "acme/api", "branch": "release/2026/06"},
    )
    evaluated = evaluator.decide(request).evaluated
    entities = cedarpy.Entities.from_json_str(json.dumps(evaluated["entities"]), evaluator.schema)
    bare_request = evaluated["request"]
    assert evaluator.decide(request).allow and cedarpy.is_authorized(bare_request, policies, entities).allowed

    ours: list[float] = []
    bare: list[float] = []
    clock = time.perf_counter
    for _ in range(2000):  # warm up both paths
        evaluator.decide(request)
        cedarpy.is_authorized(bare_request, policies, entities)
    for _ in range(args.rounds):
        start = clock()
        cedarpy.is_authorized(bare_request, policies, entities)
        middle = clock()
        evaluator.decide(request)
        end = clock()
        bare.append((middle - start) * 1e6)
        ours.append((end - middle) * 1e6)

    requests = batch_requests(args.batch)
    decisions = evaluator.decide_batch(requests)
    documents = {json.dumps(e, sort_keys=True): e for d in decisions for e in d.evaluated["entities"]}
    union = cedarpy.Entities.from_json_str(json.dumps(list(documents.values())), evaluator.schema)
    cedar_requests = [d.evaluated["request"] for d in decisions]
    bare_results = cedarpy.is_authorized_batch(cedar_requests, policies, union)
    assert [r.allowed for r in bare_results] == [d.allow for d in decisions]
    ours_batch: list[float] = []
    bare_batch: list[float] = []
    for _ in range(args.batch_rounds):
        start = clock()
        cedarpy.is_authorized_batch(cedar_requests, policies, union)
        middle = clock()
        evaluator.decide_batch(requests)
        end = clock()
        bare_batch.append((middle - start) * 1e6 / args.batch)
        ours_batch.append((end - middle) * 1e6 / args.batch)

    p50, p99 = percentile(ours, 0.5), percentile(ours, 0.99)
    b50, b99 = percentile(bare, 0.5), percentile(bare, 0.99)
    batch_ours, batch_bare = statistics.median(ours_batch), statistics.median(bare_batch)
    print(f"single decision, {args.rounds} rounds (µs)")
    print(f"  bare cedarpy.is_authorized      p50 {b50:8.1f}   p99 {b99:8.1f}")
    print(f"  PolicyEvaluator.decide          p50 {p50:8.1f}   p99 {p99:8.1f}")
    print(f"  ratio p50 {p50 / b50:.2f}x (target ≤ 2x)   p99 {p99:.0f} µs (target ≤ 1000 µs)")
    print(f"batch of {args.batch}, {args.batch_rounds} rounds (median µs per decision)")
    print(f"  bare cedarpy.is_authorized_batch    {batch_bare:8.1f}")
    print(f"  PolicyEvaluator.decide_batch        {batch_ours:8.1f}")
    print(f"  ratio {batch_ours / batch_bare:.2f}x (target ≤ 2x)")
    ok = p50 <= 2 * b50 and p99 <= 1000 and batch_ours <= 2 * batch_bare
    print("targets met" if ok else "TARGETS MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
