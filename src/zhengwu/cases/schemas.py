"""Request and response models of the cases API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zhengwu.kernel.codes.types import TaskCode


class MaterialRef(BaseModel):
    """A material: an upload already in the node's file store (its SM3) or a held license (its id)."""

    model_config = ConfigDict(extra="forbid")

    material_id: str = Field(min_length=1, max_length=64)
    file_sm3: str | None = Field(default=None, min_length=64, max_length=64)
    file_name: str | None = Field(default=None, max_length=200)
    license_id: str | None = Field(default=None, min_length=1, max_length=64)


class CaseApply(BaseModel):
    """An application: the item, the form fields and the materials; ``draft`` saves without submitting."""

    model_config = ConfigDict(extra="forbid")

    task_code: TaskCode
    form: dict[str, Any] = Field(default_factory=dict)
    materials: list[MaterialRef] = Field(default_factory=list, max_length=50)
    draft: bool = False
    draft_id: str | None = Field(default=None, max_length=64)
    # The legal entity an agent applies for (null: oneself; absent: the session's acting-for).
    on_behalf_of: str | None = Field(default=None, max_length=32)


class CaseSupplement(BaseModel):
    """What the applicant resubmits: only the fields and materials that were sent back."""

    model_config = ConfigDict(extra="forbid")

    form: dict[str, Any] = Field(default_factory=dict)
    materials: list[MaterialRef] = Field(default_factory=list, max_length=50)


class CaseWithdraw(BaseModel):
    """The applicant's withdrawal."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=500)


class CaseAction(BaseModel):
    """A staff action on a case."""

    model_config = ConfigDict(extra="forbid")

    action: Literal[
        "accept",
        "reject",
        "request_supplement",
        "accept_step",
        "complete_step",
        "add_step",
        "request_opinions",
        "give_opinion",
        "start_special",
        "end_special",
        "conclude",
        "deliver",
    ]
    opinion: str | None = Field(default=None, max_length=1000)
    materials: list[str] = Field(default_factory=list, max_length=50)
    fields: list[str] = Field(default_factory=list, max_length=50)
    special_kind: str | None = Field(default=None, max_length=32)
    outcome: Literal["approved", "refused"] | None = None
    result_kind: Literal["license", "approval", "certificate", "none"] | None = None
    license_type_code: str | None = Field(default=None, max_length=21)
    license_face: dict[str, Any] = Field(default_factory=dict)
    is_express: bool = False
    step: dict[str, Any] | None = None  # add_step: {"code", "name", "role", "days"}
    # add_step: the number of steps the caller saw; when given, a process changed since is 409 (a retry
    # without Idempotency-Key adds nothing twice)
    steps_seen: int | None = Field(default=None, ge=0, le=1000)
    departments: list[str] = Field(default_factory=list, max_length=20)  # request_opinions: USCCs
    verdict: Literal["agree", "refuse"] | None = None  # give_opinion
    # give_opinion: for which department (USCC); a step action in a parallel group: whose step (default:
    # the first open one the caller handles for)
    department: str | None = Field(default=None, max_length=18)


class CaseLookup(BaseModel):
    """Lookup without login: case number and query password."""

    model_config = ConfigDict(extra="forbid")

    case_no: str = Field(min_length=8, max_length=50)
    password: str = Field(min_length=6, max_length=6, pattern="^[0-9]{6}$")


class CaseEvaluationIn(BaseModel):
    """好差评: channel (1 PC, 2 移动端, 3 二维码, 4 大厅平板, 5 大厅其他终端, 6 短信, 7 默认), 1–5, detail codes, text."""

    model_config = ConfigDict(extra="forbid")

    channel: str = Field(pattern="^[1-7]$")
    satisfaction: int = Field(ge=1, le=5)
    detail_codes: list[str] = Field(default_factory=list, max_length=20)
    text: str | None = Field(default=None, max_length=1000)


class HistoryRead(BaseModel):
    """One transition."""

    seq: int
    action: str
    from_status: str | None
    to_status: str
    step: str | None
    actor: str
    opinion: str | None
    at: datetime


class CaseRead(BaseModel):
    """A case as its applicant or the handling department sees it (no ID number)."""

    id: str
    case_no: str | None
    status: str
    status_label: str
    task_code: str
    task_name: str
    department_id: str
    applicant_name: str
    applicant_kind: Literal["person", "enterprise"] = "person"
    agent_name: str | None = None  # 经办人 of an enterprise applicant
    form: dict[str, Any]
    # The item's own form fields the applicant filled (code, label, type …), to read ``form`` by.
    form_fields: list[dict[str, Any]] = Field(default_factory=list)
    materials: list[dict[str, Any]]
    step: str
    steps: list[dict[str, Any]]
    deadline: date | None
    due: str | None
    clock: Literal["not_started", "running", "paused", "stopped"]
    submitted_at: datetime | None
    accepted_at: datetime | None
    concluded_at: datetime | None
    supplement: dict[str, Any] | None
    special: dict[str, Any] | None
    joint: dict[str, Any] | None = None
    result: dict[str, Any] | None
    allowed_actions: list[str]
    history: list[HistoryRead] = Field(default_factory=list)
    evaluated: bool = False


class CaseCreated(BaseModel):
    """The answer to an application: the case number, status, deadline and the query password (once)."""

    id: str
    case_no: str | None
    status: str
    deadline: date | None
    password: str | None = None


class CaseStatusRead(BaseModel):
    """The minimal answer of a lookup without login."""

    case_no: str
    status: str
    status_label: str
    task_name: str
    deadline: date | None
    submitted_at: datetime | None
    concluded_at: datetime | None
