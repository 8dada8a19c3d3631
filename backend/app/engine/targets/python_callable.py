"""A Python function as a target, for testing an application from a notebook or library without HTTP."""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from typing import Any

from app.engine.model import Message, TargetResponse
from app.engine.targets.config import TargetConfig, TargetConfigError
from app.engine.targets.errors import TargetError

TargetFunction = Callable[[list[Message]], Any]


def resolve_callable(spec: str) -> TargetFunction:
    """Import `module:function`."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise TargetConfigError(f"callable {spec!r} must look like 'package.module:function'")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise TargetConfigError(f"cannot import {spec}: {error}") from None
    if not callable(function):
        raise TargetConfigError(f"{spec} is not callable")
    return function  # type: ignore[no-any-return]


class PythonConnector:
    """Calls `function(messages)`; it may be sync or async and return a str or a TargetResponse."""

    def __init__(self, config: TargetConfig, function: TargetFunction | None = None) -> None:
        self.config = config
        self._function = function or resolve_callable(config.callable or "")

    async def send(
        self,
        messages: list[Message],
        tools: list[dict[str, Any]] | None = None,
        *,
        response_schema: dict[str, Any] | None = None,  # no structured-output option in this API: not used
    ) -> TargetResponse:
        try:
            if inspect.iscoroutinefunction(self._function):
                result = await self._function(messages)
            else:
                result = await asyncio.to_thread(self._function, messages)
        except Exception as error:  # the application under test failed: an error outcome, not a crash
            raise TargetError(f"the callable raised {type(error).__name__}: {error}") from None
        if isinstance(result, TargetResponse):
            return result
        return TargetResponse(text="" if result is None else str(result))

    async def aclose(self) -> None:
        return None
