"""Example Lambda function (API Gateway proxy event -> response), shipped to exercise the isolated image test."""

from __future__ import annotations

import json
from typing import Any


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    if event.get("rawPath", event.get("path")) == "/healthz":
        return {"statusCode": 200, "body": json.dumps({"ok": True})}
    try:
        order = json.loads(event.get("body") or "{}")
    except json.JSONDecodeError:
        return {"statusCode": 400, "body": json.dumps({"error": "body is not JSON"})}
    items = order.get("items")
    if not isinstance(items, list) or not items:
        return {"statusCode": 400, "body": json.dumps({"error": "items must be a non-empty list"})}
    total = sum(int(i.get("quantity", 0)) * int(i.get("price_cents", 0)) for i in items)
    return {"statusCode": 201, "body": json.dumps({"total_cents": total, "lines": len(items)})}
