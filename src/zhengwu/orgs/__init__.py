"""Departments and implementing bodies (部门 / 实施主体).

Public surface: ``service`` (``add_department``, ``list_departments``, ``get_by_credit_code``),
``schemas`` (``DepartmentCreate``, ``DepartmentRead``) and the ``routes`` router. Sits just above the
kernel so that every capability can name the body it acts for.
"""
