"""The CJK font embedded in every PDF and sketch map (WenQuanYi Zen Hei, Debian's
fonts-wqy-zenhei). ReportLab embeds the subset of glyphs a document uses, with a ToUnicode
map, so the text can be searched and extracted."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_NAME = "WQYZenHei"
CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/wqy-zenhei/wqy-zenhei.ttc",
)


@cache
def font_path() -> str:
    configured = getattr(settings, "NONGDI_CJK_FONT", "")
    for candidate in ([configured] if configured else []) + list(CANDIDATES):
        if candidate and Path(candidate).exists():
            return candidate
    raise ImproperlyConfigured(
        "未找到中文字体 wqy-zenhei.ttc：请安装 fonts-wqy-zenhei（apt-get install fonts-wqy-zenhei）"
    )


@cache
def pdf_font() -> str:
    """Register the font with ReportLab once per process and return its name."""
    pdfmetrics.registerFont(TTFont(FONT_NAME, font_path(), subfontIndex=0))
    return FONT_NAME
