"""Electronic licenses (电子证照, GB/T 36901–36905): types, issuance as sealed OFD, verification, holder access.

Public surface:
- ``service``: ``define_type`` / ``list_types`` / ``get_type``; ``issue_license``, ``renew_license``,
  ``change_status`` (suspend / resume / revoke), ``metadata`` (GB/T 36903); ``verify_by_identifier``,
  ``verify_file``, ``verify_token``, ``lookup_identifier``; ``holder_licenses`` / ``holder_license`` /
  ``holder_usage``; ``record_usage`` (用证记录);
- ``face`` (the typed 照面 schema), ``holders`` (持证主体代码类型), ``lifecycle`` (the status machine),
  ``offline`` (the signed 2-D code payload and its offline check), ``render`` (the OFD);
- ``topics``: the ``licenses.up_lic_data`` exchange topic, registered by the composition root;
- ``routes``: ``/api/v1/licenses`` (types, issue, status, renew, verify, holder access, usage).

Licenses are sealed through :mod:`zhengwu.seals` with a time-stamp from :mod:`zhengwu.pki`.
"""
