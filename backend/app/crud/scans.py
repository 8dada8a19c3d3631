"""Starting a scan: the use-case behind `POST /api/v1/scans` and the dashboard's new-scan form.

A scan names its target and, optionally, an attacker model (for the adaptive strategies pair, tap and crescendo)
and a judge model. Both are stored targets, held to the same rule as the scan's own target (`usable_target`):
their credentials stay sealed, the job builds their connectors exactly like the target's, and each use of a
stored credential is audited. A request that leaves the attacker or judge out gets the settings' default
(SECUREAI_DEFAULT_ATTACKER_TARGET, SECUREAI_DEFAULT_JUDGE_TARGET, a target's name; unset by default); an explicit
null means none. So no model is called that nobody configured.

The use-case flushes the scan and writes its audit records in the caller's transaction; the caller commits and
hands the scan to the worker.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.audit.log import record as audit_record
from app.config import get_settings
from app.crud import packs as packs_crud
from app.crud import targets as targets_crud
from app.db.enums import ScannerType, ScanStatus
from app.db.models import Scan, Target, utcnow
from app.engine.attacks import needing_attacker, parse_attack_options
from app.engine.probes.registry import ProbePackError
from app.engine.strategies import parse_stacks
from app.jobs.scan_job import ScanOptions, plan_scan

__all__ = [
    "DEFAULT",
    "MAX_ATTEMPTS",
    "ROLE_SETTINGS",
    "Default",
    "ScanRequestError",
    "attack_options_of",
    "default_role_target",
    "start_scan",
    "usable_target",
]

#: Largest plan one scan may have (attempts).
MAX_ATTEMPTS = 100_000
#: The setting naming each optional role's default target.
ROLE_SETTINGS: Final = {"attacker": "SECUREAI_DEFAULT_ATTACKER_TARGET", "judge": "SECUREAI_DEFAULT_JUDGE_TARGET"}


class Default(enum.Enum):
    """The request left the attacker or judge out: the setting's default applies."""

    DEFAULT = "default"


DEFAULT: Final = Default.DEFAULT


class ScanRequestError(ValueError):
    """The scan cannot be started as asked; `status` is the HTTP status that says why (404 or 422)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def attack_options_of(value: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """`{"pair": {"streams": 2}}` checked with the rules of `--attack-option pair.streams=2`: ValueError (one
    line, naming what is valid) for an unknown strategy or parameter, a value that is not a whole number or out
    of its range."""
    if not value:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError('attack options must be an object like {"pair": {"streams": 2}}')
    given: list[str] = []
    for strategy, params in value.items():
        if not isinstance(params, Mapping):
            raise ValueError(f'attack options of {strategy!r} must be an object of PARAM: N, like {{"streams": 2}}')
        for param, number in params.items():
            if isinstance(number, bool) or not isinstance(number, int):
                raise ValueError(f"attack option {strategy}.{param}: {number!r} is not a whole number")
            given.append(f"{strategy}.{param}={number}")
    return parse_attack_options(given)


def usable_target(session: Session, target_id: int, what: str = "target") -> Target:
    """The stored target `target_id`, if the requesting user may scan with it (ScanRequestError 404 otherwise).

    One rule for the scan's target, its attacker and its judge. Targets are the team's, not one user's: whoever
    may start scans (`scans:write`, checked by the caller's route) may use any stored target, and nobody ever
    reads its credentials back (docs/security.md).
    """
    target = session.get(Target, target_id)
    if target is None:
        raise ScanRequestError(404, f"no target {target_id}" if what == "target" else f"{what}: no target {target_id}")
    return target


def default_role_target(session: Session, role: str) -> Target | None:
    """The target the settings name as `role`'s default (None when unset); ScanRequestError 422 when the
    setting names a target that does not exist."""
    settings = get_settings()
    name = settings.default_attacker_target if role == "attacker" else settings.default_judge_target
    if not name:
        return None
    target = session.scalar(select(Target).where(Target.name == name))
    if target is None:
        raise ScanRequestError(
            422,
            f"{ROLE_SETTINGS[role]} names the target {name!r}, which does not exist; create it, change the "
            f"setting, or send {role}_target_id (null for none)",
        )
    return target


def _role_target(session: Session, role: str, chosen: int | Default | None) -> Target | None:
    if chosen is DEFAULT:
        return default_role_target(session, role)
    if chosen is None:
        return None
    return usable_target(session, chosen, f"{role}_target_id")


@dataclass(frozen=True)
class _Who:
    """Who asked, for the audit records."""

    actor: int
    ip_address: str | None
    user_agent: str | None

    def record(self, session: Session, action: str, kind: str, resource_id: int, details: dict[str, Any]) -> None:
        audit_record(
            session,
            action,
            user_id=self.actor,
            resource_type=kind,
            resource_id=resource_id,
            details=details,
            ip_address=self.ip_address,
            user_agent=self.user_agent,
        )


def _audit_secret_use(session: Session, target: Target, purpose: str, who: _Who) -> None:
    """The stored credentials of `target` will be opened for `purpose` (the same record for every role)."""
    if targets_crud.has_credentials(target):
        sent_to = targets_crud.destination_of(target.type, target.settings)
        who.record(session, "secret_use", "target", target.id, {"purpose": purpose, "sent_to": sent_to})


def start_scan(
    session: Session,
    *,
    target_id: int,
    options: ScanOptions,
    name: str | None = None,
    attacker: int | Default | None = DEFAULT,
    judge: int | Default | None = DEFAULT,
    actor: int,
    ip_address: str | None = None,
    user_agent: str | None = None,
) -> Scan:
    """A new pending scan (flushed, audited, not committed), or ScanRequestError saying why not.

    Checks, in order: the target exists; the selection plans 1 to MAX_ATTEMPTS attempts; the attack options
    are valid; the attacker and judge (given, or the settings' defaults) exist; a strategy that needs an
    attacker has one. The default attacker applies only when a strategy needs one. The stored options record
    the resolved attacker and judge, so a resumed scan uses the same models whatever the settings say by then.
    The probes are chosen among the shipped ones and those of the active user packs (app.crud.packs); the
    options record the version of each user pack the selection runs, and the scan runs exactly those.
    """
    target = usable_target(session, target_id)
    try:
        packs = packs_crud.active_packs(session)
        plan = plan_scan(options, [stored.pack for stored in packs])
        attack_options = attack_options_of(options.attack_options)
    except (ProbePackError, ValueError, KeyError) as error:
        raise ScanRequestError(422, "; ".join(str(error).strip("'\"").splitlines())) from None
    planned = len(plan.attempts)
    if planned == 0 or planned > MAX_ATTEMPTS:
        raise ScanRequestError(422, f"the selection plans {planned} attempts; it must plan 1 to {MAX_ATTEMPTS}")
    needing = needing_attacker(parse_stacks(options.strategies))
    # the default attacker only joins scans that have a use for it: no connector, no secret opened otherwise
    attacker_target = _role_target(session, "attacker", attacker if needing or attacker is not DEFAULT else None)
    judge_target = _role_target(session, "judge", judge)
    if needing and attacker_target is None:
        raise ScanRequestError(
            422,
            f"strategy {', '.join(needing)} needs an attacker model: set attacker_target_id to a stored target "
            "(the model that writes the attacks; best_of_n needs none)",
        )
    options = replace(
        options,
        attacker_target_id=attacker_target.id if attacker_target else None,
        judge_target_id=judge_target.id if judge_target else None,
        attack_options=attack_options,
        packs=packs_crud.pins_of(packs, list(plan.probes.values())),
    )
    scan = Scan(
        name=name or f"{target.name} {utcnow():%Y-%m-%d %H:%M}",
        model_name=str(target.settings.get("model") or target.name)[:100],
        model_type=target.type,
        scanner_type=ScannerType.BUILTIN,
        status=ScanStatus.PENDING,
        progress=0.0,
        created_by=actor,
        target_id=target.id,
        options=options.as_json(),
        attempts_planned=planned,
    )
    session.add(scan)
    session.flush()
    who = _Who(actor, ip_address, user_agent)
    details: dict[str, Any] = {"target_id": target.id, "attempts": planned}
    if attacker_target is not None:
        details["attacker_target_id"] = attacker_target.id
    if judge_target is not None:
        details["judge_target_id"] = judge_target.id
    if options.packs:
        details["packs"] = [f"{pin['name']} v{pin['version']}" for pin in options.packs]
    who.record(session, "scan_start", "scan", scan.id, details)
    _audit_secret_use(session, target, f"scan {scan.id}", who)
    if attacker_target is not None:
        _audit_secret_use(session, attacker_target, f"scan {scan.id} (attacker model)", who)
    if judge_target is not None:
        _audit_secret_use(session, judge_target, f"scan {scan.id} (judge model)", who)
    return scan
