"""`tap`: tree of attacks with pruning (Mehrotra et al., "Tree of Attacks: Jailbreaking Black-Box LLMs
Automatically").

The root is the probe's own prompt. At each level every kept node asks the attacker for `branching` refined
children; the judge prunes children that no longer pursue the goal before they are sent; the survivors are
sent and scored, and only the `width` best are kept to grow the next level, up to `depth` levels. Node ids
are paths in the tree ("r.2.1": first child of the root's second child), so a finding names the path that won.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.engine.attacks.base import AdaptiveStrategy, AttackResult, AttackRun, Param, Try, better, settle


class Tap(AdaptiveStrategy):
    name = "tap"
    description = "Adaptive: tree of attacker refinements; the judge prunes off-topic branches, the best are kept."
    params: Mapping[str, Param] = {
        "depth": Param(3, 1, 10, "levels of refinement below the root"),
        "branching": Param(2, 1, 8, "children the attacker proposes per node"),
        "width": Param(3, 1, 20, "nodes kept per level (the best scores)"),
    }

    async def run(self, attack: AttackRun) -> AttackResult:
        depth, branching, width = attack.params["depth"], attack.params["branching"], attack.params["width"]
        root = await attack.try_conversation("r", [], attack.seed_prompt)
        if root.success:
            return attack.result(root, 0)
        best: Try | None = root
        frontier = [root]
        level = 0
        for level in range(1, depth + 1):
            requests = [(f"{node.node}.{child}", node, child) for node in frontier for child in range(1, branching + 1)]
            proposals = await settle(
                *(
                    attack.refine(f"{node_id}/attacker", parent, level + 1, child, branching)
                    for node_id, parent, child in requests
                )
            )
            children = [
                (node_id, prompt) for (node_id, _, _), prompt in zip(requests, proposals, strict=True) if prompt
            ]
            verdicts = await settle(*(attack.on_topic(f"{node_id}/topic", prompt) for node_id, prompt in children))
            kept = [(node_id, prompt) for (node_id, prompt), on in zip(children, verdicts, strict=True) if on]
            pruned = len(children) - len(kept)
            if pruned:
                attack.notes.append(f"level {level}: {pruned} off-topic branch(es) pruned before sending")
            if not kept:
                break
            tries = await settle(*(attack.try_conversation(node_id, [], prompt) for node_id, prompt in kept))
            for attempt in tries:
                best = better(best, attempt)
                if attempt.success:
                    return attack.result(attempt, level)
            ranked = sorted(enumerate(tries), key=lambda pair: (-pair[1].score, pair[0]))
            frontier = [attempt for _, attempt in ranked[:width]]
        return attack.result(best, level)

    def worst_case(self, params: Mapping[str, int], judged: bool) -> dict[str, int]:
        depth, branching, width = params["depth"], params["branching"], params["width"]
        children = branching + sum(min(width, branching**level) * branching for level in range(1, depth))
        sends = 1 + children
        return {"target": sends, "attacker": children, "judge": (sends + children) if judged else 0}
