"""Outbound delivery of what workflow steps send: email over SMTP, webhooks over HTTP.

Adapters only: they send and report what happened. Recording it as events is the services' job,
and deciding whether to retry is the worker's.
"""
