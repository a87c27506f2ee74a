"""Cross-seed transfer of reference solutions (issue 11): does the memorised solution of seed s solve seed s'?

Usage: python bench/ctf_variation.py [--seeds 20] [--challenges IDS] [--max-sandboxes 8]

Every target seed's instance runs, in its own sandbox, the reference solutions of all other seeds (aimed at the
target's port, which the prompt states) and then its own as a control. Prints per challenge: templates drawn,
pairs whose seeds share a template, the share of pairs s != s' whose foreign solution FAILED (target >= 90 %), and
whether the control solved every seed. Expensive: seeds x (seeds - 1) solution runs per challenge.
"""

from __future__ import annotations

import argparse
import time

TARGET_FAILURE = 0.90


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--challenges", default=None)
    parser.add_argument("--max-sandboxes", type=int, default=8)
    args = parser.parse_args()

    from clearinghouse.evals.ctf.base import FlagKey
    from clearinghouse.evals.ctf.registry import select
    from clearinghouse.evals.ctf.variation import measure
    from clearinghouse.evals.offline import install_offline_tokenizer
    from clearinghouse.evals.sandbox import require_bwrap

    require_bwrap()
    install_offline_tokenizer()
    seeds = list(range(args.seeds))
    started = time.monotonic()
    results = measure(seeds, args.challenges, max_sandboxes=args.max_sandboxes)
    wall = time.monotonic() - started

    print(f"{'challenge':26} {'tmpl':>4} {'drawn':>5} {'same-tmpl pairs':>15} {'failed':>9} {'control':>8}")
    total_pairs = total_failed = 0
    verdicts = []
    key = FlagKey.generate()  # templates depend on the seed only
    for challenge in select(args.challenges):
        transfers = results[challenge.id]
        templates = {seed: challenge.instantiate(seed, key).template for seed in seeds}
        pairs = sum(len(t.tried) for t in transfers)
        failed = pairs - sum(len(t.solved_by) for t in transfers)
        same = sum(1 for t in transfers for other in t.tried if templates[other] == templates[t.seed])
        control = all(t.own_solved for t in transfers) and len(transfers) == len(seeds)
        share = failed / pairs if pairs else 0.0
        total_pairs, total_failed = total_pairs + pairs, total_failed + failed
        verdicts.append(share >= TARGET_FAILURE and control)
        print(
            f"{challenge.id:26} {challenge.templates:4} {len(set(templates.values())):5} "
            f"{same / pairs if pairs else 0:15.0%} {share:9.1%} {'ok' if control else 'FAILED':>8}"
        )
    overall = total_failed / total_pairs if total_pairs else 0.0
    print(f"all pairs: {total_failed}/{total_pairs} foreign solutions failed = {overall:.1%} "
          f"(target >= {TARGET_FAILURE:.0%} per challenge); {len(seeds)} seeds in {wall:.0f} s")  # fmt: skip
    print("PASS" if all(verdicts) else "FAIL")


if __name__ == "__main__":
    main()
