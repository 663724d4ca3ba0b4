"""The API's schemas: django-ninja's `Schema`, built from keyword arguments at the cost of pydantic alone.

ninja wraps whatever a schema is validated from in its `DjangoGetter`, so that a model instance's related
managers, querysets, callables and files read as lists, values and URLs. Tessera builds its answers from
keyword arguments (nothing is read after a write, issue 13) and receives bodies as parsed JSON: both are
plain dicts, for which the getter only costs — a tenth of a sale's web CPU went to it (one Python call per
field read). A dict is validated as it is; anything else (`from_orm`, a model instance) still goes through
ninja's getter, and a schema with ninja resolvers keeps it too.
"""

from __future__ import annotations

from typing import Any

import ninja
from ninja.schema import DjangoGetter
from pydantic import ModelWrapValidatorHandler, ValidationInfo, model_validator


class Schema(ninja.Schema):
    @model_validator(mode="wrap")
    @classmethod
    def _run_root_validator(
        cls, values: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        if type(values) is dict and not cls._ninja_resolvers:
            return handler(values)
        # ninja's own wrapper, as ninja.Schema writes it
        if cls.model_config.get("extra") == "forbid" or cls.model_config.get("validate_assignment", False):
            handler(values)
        return handler(DjangoGetter(values, cls, info.context))
