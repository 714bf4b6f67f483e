"""办件 — cases: applying for a published item, handling it through its process in working days, the
result (a license issued through licenses), the national ``up_pro_*`` records and the evaluation (好差评).

See docs/cases.md.
"""
