"""Errors of the department registry."""

from zhengwu.kernel.errors import Conflict, NotFound


class DepartmentNotFound(NotFound):
    """No department with that id or credit code."""

    code = "orgs.department_not_found"
    default_detail = "部门不存在"


class DepartmentExists(Conflict):
    """A department with that credit code is already registered."""

    code = "orgs.department_exists"
    default_detail = "该统一社会信用代码的部门已存在"
