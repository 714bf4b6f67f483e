"""参考部门业务系统 — a reference department business system for a zhengwu node.

It signs its clerks in through the node (OIDC authorization code + PKCE), receives the node's signed case
webhooks (or pulls the event feed), and lets a clerk accept, send back and conclude the cases of its
department through the node's case API. It talks to the node only over HTTP.
"""
