"""Signed webhooks of cases to the department systems (Standard Webhooks with an HMAC-SM3 scheme beside
HMAC-SHA256), their delivery log, retries, dead letters and replay, and the pull feed."""
