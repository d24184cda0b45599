"""Block Kit checks the Slack fake applies (limits from Slack's Block Kit reference:
50 blocks per message, block_id and action_id <= 255, section text <= 3000 and fields <= 10 x 2000,
header plain_text <= 150, button text plain_text <= 75 and value <= 2000 and url <= 3000,
actions <= 25 elements, context <= 10 elements, markdown block <= 12000)."""

from __future__ import annotations

from typing import Any

BLOCK_TYPES = {
    "section",
    "header",
    "actions",
    "context",
    "divider",
    "image",
    "input",
    "rich_text",
    "markdown",
    "file",
    "video",
}
INTERACTIVE = {
    "button",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_users_select",
    "overflow",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "checkboxes",
    "radio_buttons",
    "plain_text_input",
    "image",
    "multi_external_select",
    "multi_conversations_select",
    "multi_channels_select",
    "email_text_input",
    "url_text_input",
    "number_input",
    "rich_text_input",
    "workflow_button",
}


class BlockError(Exception):
    """``invalid_blocks`` with a reason naming the JSON pointer, like Slack's ``errors`` list."""


def validate_blocks(blocks: Any, *, max_blocks: int = 50) -> None:
    if not isinstance(blocks, list):
        raise BlockError("blocks must be an array [json-pointer:/blocks]")
    if len(blocks) > max_blocks:
        raise BlockError(f"no more than {max_blocks} items allowed [json-pointer:/blocks]")
    seen_blocks: set[str] = set()
    seen_actions: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/blocks/{i}"
        if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
            raise BlockError(f"unsupported type: {_type(block)} [json-pointer:{where}/type]")
        block_id = block.get("block_id")
        if block_id is not None:
            _max_len(block_id, 255, f"{where}/block_id")
            if block_id in seen_blocks:
                raise BlockError(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            seen_blocks.add(block_id)
        _BLOCK_CHECKS.get(block["type"], lambda b, w, s: None)(block, where, seen_actions)


def _type(obj: Any) -> str:
    return str(obj.get("type")) if isinstance(obj, dict) else type(obj).__name__


def _max_len(value: Any, limit: int, where: str) -> None:
    if not isinstance(value, str):
        raise BlockError(f"must be a string [json-pointer:{where}]")
    if len(value) > limit:
        raise BlockError(f"must be less than {limit + 1} characters [json-pointer:{where}]")


def _text(obj: Any, where: str, limit: int, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        raise BlockError(f"must be a text object of type plain_text or mrkdwn [json-pointer:{where}]")
    if plain_only and obj["type"] != "plain_text":
        raise BlockError(f"must be a plain_text object [json-pointer:{where}/type]")
    text = obj.get("text")
    _max_len(text, limit, f"{where}/text")
    if not text:
        raise BlockError(f"must be more than 0 characters [json-pointer:{where}/text]")
    if obj["type"] == "mrkdwn" and "emoji" in obj:
        raise BlockError(f"emoji is only allowed on plain_text [json-pointer:{where}/emoji]")


def _element(el: Any, where: str, seen_actions: set[str]) -> None:
    if not isinstance(el, dict) or el.get("type") not in INTERACTIVE:
        raise BlockError(f"unsupported element type: {_type(el)} [json-pointer:{where}/type]")
    action_id = el.get("action_id")
    if action_id is not None:
        _max_len(action_id, 255, f"{where}/action_id")
        if action_id in seen_actions:
            raise BlockError(f"duplicate action_id {action_id!r} [json-pointer:{where}/action_id]")
        seen_actions.add(action_id)
    if el["type"] == "button":
        _text(el.get("text"), f"{where}/text", 75, plain_only=True)
        if "value" in el:
            _max_len(el["value"], 2000, f"{where}/value")
        if "url" in el:
            _max_len(el["url"], 3000, f"{where}/url")
        if el.get("style") not in (None, "primary", "danger"):
            raise BlockError(f"style must be primary or danger [json-pointer:{where}/style]")


def _section(block: dict[str, Any], where: str, seen: set[str]) -> None:
    if "text" not in block and "fields" not in block:
        raise BlockError(f"must provide text or fields [json-pointer:{where}]")
    if "text" in block:
        _text(block["text"], f"{where}/text", 3000)
    fields = block.get("fields", [])
    if not isinstance(fields, list) or len(fields) > 10:
        raise BlockError(f"no more than 10 items allowed [json-pointer:{where}/fields]")
    for j, field in enumerate(fields):
        _text(field, f"{where}/fields/{j}", 2000)
    if "accessory" in block:
        _element(block["accessory"], f"{where}/accessory", seen)


def _header(block: dict[str, Any], where: str, seen: set[str]) -> None:
    _text(block.get("text"), f"{where}/text", 150, plain_only=True)


def _actions(block: dict[str, Any], where: str, seen: set[str]) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
        raise BlockError(f"must have 1 to 25 elements [json-pointer:{where}/elements]")
    for j, el in enumerate(elements):
        _element(el, f"{where}/elements/{j}", seen)


def _context(block: dict[str, Any], where: str, seen: set[str]) -> None:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
        raise BlockError(f"must have 1 to 10 elements [json-pointer:{where}/elements]")
    for j, el in enumerate(elements):
        if _type(el) != "image":
            _text(el, f"{where}/elements/{j}", 3000)


def _markdown(block: dict[str, Any], where: str, seen: set[str]) -> None:
    _max_len(block.get("text"), 12000, f"{where}/text")


_BLOCK_CHECKS = {
    "section": _section,
    "header": _header,
    "actions": _actions,
    "context": _context,
    "markdown": _markdown,
}
