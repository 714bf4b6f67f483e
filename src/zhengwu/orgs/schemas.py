"""Request and response shapes of the department registry."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DepartmentCreate(BaseModel):
    """A new department or implementing body."""

    model_config = ConfigDict(str_strip_whitespace=True)

    credit_code: str = Field(min_length=18, max_length=18, description="统一社会信用代码")
    name: str = Field(min_length=2, max_length=200, description="名称")
    short_name: str | None = Field(default=None, max_length=100, description="简称")
    division_code: str = Field(pattern=r"^\d{6}$", description="行政区划代码 GB/T 2260")
    parent_credit_code: str | None = Field(default=None, min_length=18, max_length=18)


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
