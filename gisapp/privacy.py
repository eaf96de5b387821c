"""Masking of personal data (names, ID numbers, phone numbers) for public pages, logs and
error messages. Registered data stays complete in the database; only its display is masked."""

from __future__ import annotations

import re

# 18-digit resident ID (last char may be X), 15-digit legacy IDs, and mainland mobile numbers.
ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])|(?<!\d)(\d{6})\d{6}(\d{3})(?!\d)")
PHONE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")


def mask_name(name: str | None) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; empty stays empty."""
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_id_number(value: str | None) -> str:
    """Keep the first 6 (region) and last 4 characters: 310151********1234."""
    if not value:
        return ""
    if len(value) <= 10:
        return value[:2] + "*" * max(1, len(value) - 2)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_phone(value: str | None) -> str:
    if not value:
        return ""
    if len(value) < 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_text(text: str) -> str:
    """Mask every ID number and mobile number found in free text (log lines, error messages)."""

    def _id(m: re.Match[str]) -> str:
        whole = m.group(0)
        return mask_id_number(whole)

    text = ID_NUMBER.sub(_id, text)
    return PHONE.sub(lambda m: mask_phone(m.group(0)), text)
