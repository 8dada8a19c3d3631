"""`crescendo`: live multi-turn escalation (Russinovich et al., "Great, Now Write an Article About That").

The attacker writes one user turn at a time, seeing the whole conversation so far: it starts harmless and
moves toward the goal, building on what the target already said. When the target refuses a turn, that turn is
taken back (the target never sees it again: every request carries the conversation as kept) and the attacker
writes a different one, up to `backtracks` times per attempt. Each reply is judged; the attempt succeeds as
soon as one is `vulnerable`. Turns are numbered in the order they are sent, so the run is sequential and
replays exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.engine.attacks.base import AdaptiveStrategy, AttackResult, AttackRun, Param, Try, better
from app.engine.model import Message, Outcome


def _dump(conversation: list[Message]) -> list[dict[str, str]]:
    return [{"role": message.role, "content": message.content} for message in conversation]


class Crescendo(AdaptiveStrategy):
    name = "crescendo"
    description = "Adaptive: multi-turn escalation steered by the target's replies, backtracking on refusals."
    params: Mapping[str, Param] = {
        "turns": Param(5, 1, 20, "user turns kept in the conversation at most"),
        "backtracks": Param(3, 0, 20, "refused turns the attacker may rewrite"),
    }

    async def run(self, attack: AttackRun) -> AttackResult:
        max_turns, max_backtracks = attack.params["turns"], attack.params["backtracks"]
        history: list[Message] = []
        best: Try | None = None
        backtracks = 0
        sent = 0
        prompt = await attack.attacker(
            "c1/attacker", "next_turn", conversation=[], turn=1, max_turns=max_turns, seed_prompt=attack.seed_prompt
        )
        while prompt is not None and len(history) // 2 < max_turns:
            sent += 1
            attempt = await attack.try_conversation(f"c{sent}", history, prompt)
            best = better(best, attempt)
            if attempt.success:
                return attack.result(attempt, sent)
            refused = attempt.judgement.outcome is Outcome.REFUSED
            if refused and backtracks < max_backtracks:
                backtracks += 1
                attack.notes.append(f"turn {len(history) // 2 + 1} refused; rewritten (backtrack {backtracks})")
                prompt = await attack.attacker(
                    f"c{sent + 1}/attacker",
                    "rewrite_turn",
                    conversation=_dump(history),
                    refused_message=prompt,
                    target_reply=attempt.response.text,
                    turn=len(history) // 2 + 1,
                    max_turns=max_turns,
                )
                continue
            history = attempt.conversation
            if len(history) // 2 >= max_turns:
                break
            prompt = await attack.attacker(
                f"c{sent + 1}/attacker",
                "next_turn",
                conversation=_dump(history),
                turn=len(history) // 2 + 1,
                max_turns=max_turns,
                score=attempt.score,
                judge_reason=attempt.judge_reason,
            )
        return attack.result(best, sent)

    def worst_case(self, params: Mapping[str, int], judged: bool) -> dict[str, int]:
        sends = params["turns"] + params["backtracks"]
        return {"target": sends, "attacker": sends, "judge": sends if judged else 0}
