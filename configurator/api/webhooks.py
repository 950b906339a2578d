"""Webhooks: an admin registers URLs for events; deliveries are signed, retried and recorded."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("api_webhooks", __name__)
