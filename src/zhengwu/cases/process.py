"""An item's handling process as data (办理流程): its steps, the role that acts in each and each step's
time limit in working days. Loaded from JSON and validated before it is stored; an item without one
follows ``DEFAULT``.

The role names the staff who do the step (shown in the queue and the case); who may act is still
decided by the rights policy (``cases.rights``), never by comparing role names here.

联办 as steps: a step may name another ``department`` (its 统一社会信用代码). That department accepts its
step and handles it when the case reaches it; the steps run in order, so a 联办 case passes through its
departments one after another and concludes at the last step (``cases.service``).

Parallel steps: neighbouring steps that name the same ``parallel`` group run at once. The case reaches
them together, goes on when every one of them is done, and ends when one of their departments refuses.
Each department of a group has one step in it (the item's own at most one), so the department acting
says which step it acts on; the group's time limit is its longest step's, not their sum.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from zhengwu.identity.roles import ROLES
from zhengwu.kernel.codes.uscc import validate_uscc

MAX_STEPS: Final = 30


class ProcessInvalid(ValueError):
    """A process definition that breaks a rule (the message names the rule, in Chinese)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One step: a stable code, a name for people and the national ``process_name``, who acts, how long."""

    code: str
    name: str
    role: str
    days: int
    department: str | None = None  # 联办: the other department's credit code (None: the item's own)
    parallel: str | None = None  # the group of neighbouring steps it runs at once with (None: alone)


@dataclass(frozen=True, slots=True)
class Process:
    """The ordered steps of an item's handling."""

    steps: tuple[Step, ...]

    @classmethod
    def from_json(cls, raw: Any) -> Process:
        """Validate a definition ``{"steps": [{"code", "name", "role", "days", "department"?}, ...]}``."""
        if not isinstance(raw, Mapping) or not isinstance(raw.get("steps"), Sequence):
            raise ProcessInvalid("流程定义应为含 steps 列表的对象")
        items = list(raw["steps"])
        if not 1 <= len(items) <= MAX_STEPS:
            raise ProcessInvalid(f"流程应有1至{MAX_STEPS}个环节")
        steps: list[Step] = []
        for n, item in enumerate(items, start=1):
            if not isinstance(item, Mapping):
                raise ProcessInvalid(f"第{n}个环节应为对象")
            code, name, role, days = item.get("code"), item.get("name"), item.get("role"), item.get("days", 0)
            if not isinstance(code, str) or not code.isidentifier() or len(code) > 32:
                raise ProcessInvalid(f"第{n}个环节的代码应为不超过32位的字母、数字或下划线")
            if not isinstance(name, str) or not 1 <= len(name.strip()) <= 100:
                raise ProcessInvalid(f"第{n}个环节的名称应为1至100个字符")
            if role not in ROLES:
                raise ProcessInvalid(f"第{n}个环节的办理角色不是本平台的工作人员角色")
            if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 365:
                raise ProcessInvalid(f"第{n}个环节的时限应为0至365个工作日")
            department = item.get("department")
            if department is not None:
                verdict = validate_uscc(department) if isinstance(department, str) else None
                if verdict is None or not verdict.ok:
                    raise ProcessInvalid(f"第{n}个环节的办理部门应为有效的统一社会信用代码")
                department = verdict.value
            group = item.get("parallel")
            if group is not None and (
                not isinstance(group, str) or not group.isidentifier() or len(group) > 32
            ):
                raise ProcessInvalid(f"第{n}个环节的并行组名应为不超过32位的字母、数字或下划线")
            steps.append(Step(code, name.strip(), role, days, department, group))
        if len({s.code for s in steps}) != len(steps):
            raise ProcessInvalid("环节代码不能重复")
        process = cls(tuple(steps))
        _check_groups(process)
        return process

    def as_json(self) -> dict[str, Any]:
        """The stored shape."""
        return {"steps": [_step_json(s) for s in self.steps]}

    def joint(self) -> bool:
        """Whether some step is another department's (联办 as steps)."""
        return any(s.department for s in self.steps)

    def total_days(self) -> int:
        """The time limit of the whole: the groups one after another, each as long as its longest step."""
        return sum(max(self.steps[i].days for i in group) for group in self.groups())

    def step(self, index: int) -> Step:
        """The step at ``index`` (the last one past the end)."""
        return self.steps[min(max(index, 0), len(self.steps) - 1)]

    def groups(self) -> list[range]:
        """The steps as they run: a parallel group's indexes together, every other step alone."""
        out: list[range] = []
        start = 0
        for n in range(1, len(self.steps) + 1):
            group = self.steps[start].parallel
            if n == len(self.steps) or group is None or self.steps[n].parallel != group:
                out.append(range(start, n))
                start = n
        return out

    def group_at(self, index: int) -> range:
        """The indexes running together with the step at ``index``."""
        index = min(max(index, 0), len(self.steps) - 1)
        return next(g for g in self.groups() if index in g)

    def is_last_group(self, index: int) -> bool:
        """Whether the step at ``index`` is in the last group."""
        return self.group_at(index).stop >= len(self.steps)


def _step_json(step: Step) -> dict[str, Any]:
    out: dict[str, Any] = {"code": step.code, "name": step.name, "role": step.role, "days": step.days}
    if step.department:
        out["department"] = step.department
    if step.parallel:
        out["parallel"] = step.parallel
    return out


def _check_groups(process: Process) -> None:
    """A parallel group is two or more neighbouring steps after the first (受理 opens the case alone), each
    of another department (the item's own at most once): the department acting names the step."""
    if process.steps[0].parallel is not None:
        raise ProcessInvalid("第一个环节（受理）不能与其他环节并行")
    seen: set[str] = set()
    for group in process.groups():
        name = process.steps[group.start].parallel
        if name is None:
            continue
        if name in seen:
            raise ProcessInvalid(f"并行组“{name}”的环节应当相邻")
        seen.add(name)
        if len(group) < 2:
            raise ProcessInvalid(f"并行组“{name}”应至少有两个环节")
        departments = [process.steps[i].department for i in group]
        if len(set(departments)) != len(departments):
            raise ProcessInvalid(f"并行组“{name}”中每个部门只能有一个环节")


#: 受理 → 审查 → 决定: the process of an item that has none of its own.
DEFAULT: Final = Process(
    (
        Step("accept", "受理", "case_handler", 0),
        Step("review", "审查", "case_handler", 0),
        Step("decide", "决定", "case_handler", 0),
    )
)


def check_against(process: Process, promise_days: int | None) -> None:
    """The steps' time limits must fit in the item's promised time limit."""
    if promise_days is not None and process.total_days() > promise_days:
        raise ProcessInvalid(
            f"各环节时限之和（{process.total_days()}个工作日）超过承诺时限（{promise_days}个工作日）"
        )
