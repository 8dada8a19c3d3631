"""`pair`: iterative refinement (Chao et al., "Jailbreaking Black Box Large Language Models in Twenty Queries").

Several independent streams each send a prompt, read the target's reply and the judge's score, and ask the
attacker for an improved prompt, for a fixed number of iterations. Stream 1 opens with the probe's own prompt
(a reviewed attack is a good first try); the other streams open with the attacker's own ideas. Streams advance
in lock-step, one iteration at a time, and the first success (lowest stream on a tie) ends the attempt, so the
same replies always give the same run.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.engine.attacks.base import AdaptiveStrategy, AttackResult, AttackRun, Param, Try, better, settle


class Pair(AdaptiveStrategy):
    name = "pair"
    description = "Adaptive: attacker model refines the prompt from the target's replies and the judge's score."
    params: Mapping[str, Param] = {
        "streams": Param(3, 1, 20, "independent refinement streams"),
        "iterations": Param(4, 1, 20, "prompts sent per stream"),
    }

    async def run(self, attack: AttackRun) -> AttackResult:
        streams, iterations = attack.params["streams"], attack.params["iterations"]
        openings = await settle(
            *(
                attack.attacker(
                    f"s{stream}/i1/attacker", "open", seed_prompt=attack.seed_prompt, variant=stream, variants=streams
                )
                for stream in range(2, streams + 1)
            )
        )
        prompts: dict[int, str | None] = {1: attack.seed_prompt}
        prompts.update({stream: prompt for stream, prompt in zip(range(2, streams + 1), openings, strict=True)})
        best: Try | None = None
        for iteration in range(1, iterations + 1):
            active = sorted(stream for stream, prompt in prompts.items() if prompt)
            if not active:
                break
            tries = await settle(
                *(attack.try_conversation(f"s{stream}/i{iteration}", [], prompts[stream] or "") for stream in active)
            )
            for attempt in tries:
                best = better(best, attempt)
                if attempt.success:
                    return attack.result(attempt, iteration)
            if iteration == iterations:
                break
            refined = await settle(
                *(
                    attack.refine(f"s{stream}/i{iteration + 1}/attacker", attempt, iteration + 1, stream, streams)
                    for stream, attempt in zip(active, tries, strict=True)
                )
            )
            prompts = dict(zip(active, refined, strict=True))
        return attack.result(best, iteration if best else 0)

    def worst_case(self, params: Mapping[str, int], judged: bool) -> dict[str, int]:
        streams, iterations = params["streams"], params["iterations"]
        sends = streams * iterations
        return {
            "target": sends,
            "attacker": (streams - 1) + streams * (iterations - 1),
            "judge": sends if judged else 0,
        }
