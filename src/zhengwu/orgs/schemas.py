"""Request and response shapes of the department registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from zhengwu.kernel.codes.types import USCC, NodeDivisionCode


class DepartmentCreate(BaseModel):
    """A new department or implementing body."""

    model_config = ConfigDict(str_strip_whitespace=True)

    credit_code: USCC
    name: str = Field(min_length=2, max_length=200, description="名称")
    short_name: str | None = Field(default=None, max_length=100, description="简称")
    division_code: NodeDivisionCode
    parent_credit_code: USCC | None = None


class DepartmentRead(BaseModel):
    """A department as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    credit_code: str
    name: str
    short_name: str | None
    division_code: str
    level: int
    parent_id: str | None
