"""Shared PDF layout: A4 pages, Chinese paragraph styles, tables, QR codes, sketches."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from django.utils import timezone
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import inch, mm
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import KeepTogether

from registration.documents.fonts import pdf_font
from registration.documents.sketch import Sketch

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN


class Styles:
    def __init__(self) -> None:
        font = pdf_font()
        self.title = ParagraphStyle("title", fontName=font, fontSize=18, leading=26, alignment=TA_CENTER, spaceAfter=6)
        self.subtitle = ParagraphStyle("subtitle", fontName=font, fontSize=10, leading=14, alignment=TA_CENTER)
        self.heading = ParagraphStyle("heading", fontName=font, fontSize=12, leading=18, spaceBefore=8, spaceAfter=4)
        self.body = ParagraphStyle("body", fontName=font, fontSize=10, leading=16, wordWrap="CJK")
        self.small = ParagraphStyle("small", fontName=font, fontSize=8, leading=11, wordWrap="CJK")
        self.cell = ParagraphStyle("cell", fontName=font, fontSize=8.5, leading=11, wordWrap="CJK")
        self.cell_center = ParagraphStyle("cellc", parent=self.cell, alignment=TA_CENTER)


def esc(value: object) -> str:
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def p(text: object, style: ParagraphStyle) -> Paragraph:
    return Paragraph(esc(text), style)


def table(
    rows: Sequence[Sequence[object]],
    styles: Styles,
    widths: Sequence[float],
    *,
    header: bool = True,
    label_columns: Sequence[int] = (),
) -> Table:
    """A grid table of paragraphs (so long Chinese text wraps); the first row is a header."""
    data = [[cell if isinstance(cell, Flowable) else p(cell, styles.cell) for cell in row] for row in rows]
    result = Table(data, colWidths=list(widths), repeatRows=1 if header else 0)
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eee6")))
    for column in label_columns:
        commands.append(("BACKGROUND", (column, 0), (column, -1), colors.HexColor("#f3f5f1")))
    result.setStyle(TableStyle(commands))
    return result


def qr_code(value: str, size: float = 28 * mm) -> Drawing:
    widget = QrCodeWidget(value, barLevel="M")
    x0, y0, x1, y1 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
    drawing.add(widget)
    return drawing


def sketch_image(sketch: Sketch, *, scale: float = 1.0) -> Image:
    """The sketch at its printed size (× scale): 300 dpi at scale 1."""
    return Image(io.BytesIO(sketch.png), width=sketch.width_in * inch * scale, height=sketch.height_in * inch * scale)


def sketch_grid(sketches: Sequence[Sketch], styles: Styles, *, columns: int = 2, scale: float = 1.0) -> list[Flowable]:
    """Sketches side by side, each with its code, name and area under it."""
    cells = []
    for sketch in sketches:
        caption = p(f"{sketch.name} {sketch.code}（{sketch.area} m²）", styles.small)
        cells.append([sketch_image(sketch, scale=scale), caption])
    rows = [cells[i : i + columns] for i in range(0, len(cells), columns)]
    flow: list[Flowable] = []
    for row in rows:
        padded = row + [[Spacer(1, 1)]] * (columns - len(row))
        grid = Table([padded], colWidths=[FRAME_WIDTH / columns] * columns)
        grid.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (0, 0), (-1, -1), "CENTER")]))
        flow.append(KeepTogether([grid, Spacer(1, 4)]))
    return flow


def build(
    story: list[Flowable],
    *,
    title: str,
    footer: str,
    author: str = "农村土地承包经营权信息管理系统",
    on_page: Callable[[Any, Any], None] | None = None,
) -> bytes:
    """Render the story on A4 with a footer (document, page number, time of generation)."""
    buffer = io.BytesIO()
    font = pdf_font()
    generated = timezone.localtime().strftime("%Y-%m-%d %H:%M")

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        canvas.drawString(MARGIN, 10 * mm, f"{footer}    生成时间 {generated}")
        canvas.drawRightString(PAGE_WIDTH - MARGIN, 10 * mm, f"第 {doc.page} 页")
        if on_page is not None:
            on_page(canvas, doc)
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author=author,
        subject=footer,
        creator="Nongdi",
    )
    doc.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def watermark(text: str) -> Callable[[Any, Any], None]:
    """A light diagonal mark across each page (e.g. 草稿 on a contract not yet registered)."""

    def draw(canvas: Any, doc: Any) -> None:
        canvas.setFont(pdf_font(), 60)
        canvas.setFillColor(colors.Color(0.8, 0.1, 0.1, alpha=0.12))
        canvas.translate(PAGE_WIDTH / 2, PAGE_HEIGHT / 2)
        canvas.rotate(35)
        canvas.drawCentredString(0, 0, text)

    return draw
