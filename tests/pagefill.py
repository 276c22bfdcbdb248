"""How full each page of a rendered report is, and what its page breaks separated, read from WeasyPrint's layout.

``layout(build_dir)`` lays ``report.html`` out as the PDF is (print media, the build folder's stylesheet and
images); the other functions read the resulting pages:

- ``page_fills``: per page, the share of the content area (inside the @page margins) above the lowest laid-out
  line, image or table cell: 1.0 for a full page, 0.1 for a page with a few lines at its top.
- ``separated_captions``: figures whose caption is not on the page of its image, tables whose caption is not on
  the page of their first row.
- ``table_pages``: the pages each captioned table is on.
- ``headless_continuations``: tables that continue on a further page without their header rows repeated there.
- ``stranded_headings``: section headings that end a page, their section starting on the next.

``pdf_page_fills`` measures the same from a PDF file (text and image positions, pypdf), independent of WeasyPrint's
boxes, to check the layout numbers against the document people read.
"""

from __future__ import annotations

from pathlib import Path

# The @page margins of templates/report.css (top, bottom), for reading a PDF, which does not keep them.
TOP_MARGIN_MM, BOTTOM_MARGIN_MM = 18, 20


def layout(build_dir: Path, name: str = "report.html"):
    """The laid-out pages of ``build_dir/name``, as the PDF renderer lays them out."""
    from weasyprint import HTML

    from report.render.pdfworker import build_folder_fetcher

    build_dir = Path(build_dir)
    return HTML(filename=str(build_dir / name), url_fetcher=build_folder_fetcher(build_dir)).render()


def _content(page):
    """The boxes of a page's document content (its margin boxes, the running headers and footers, left out)."""
    from weasyprint.formatting_structure import boxes

    for child in page._page_box.children:
        if isinstance(child, boxes.MarginBox):
            continue
        yield child
        yield from child.descendants()


def _marks(box) -> bool:
    """Whether a box puts something visible on the page by itself: a line of text, an image, a table cell
    (with its rule) or a block with a bottom border. Block containers are not counted for their own height:
    a block broken across pages may extend to the bottom of its first page."""
    from weasyprint.formatting_structure import boxes

    if isinstance(box, (boxes.LineBox, boxes.ReplacedBox, boxes.TableCellBox)):
        return box.height is not None and box.height > 0
    return isinstance(box, boxes.BlockBox) and getattr(box, "border_bottom_width", 0) > 0


def page_fills(document) -> list[float]:
    fills = []
    for page in document.pages:
        page_box = page._page_box
        top, height = page_box.content_box_y(), page_box.height
        bottom = max((box.border_box_y() + box.border_height() for box in _content(page) if _marks(box)),
                     default=top)
        fills.append(round(min(max((bottom - top) / height, 0.0), 1.0), 3))
    return fills


def holes(fills: list[float], least: float = 0.5) -> list[tuple[int, float]]:
    """(page number, fill) of every page but the last that is less than ``least`` full."""
    return [(number, fill) for number, fill in enumerate(fills[:-1], start=1) if fill < least]


def _parents(document) -> dict:
    """{element: its parent} over the whole document (the elements are ElementTree's, which do not know it)."""
    root = next(_content(document.pages[0])).element
    return {child: parent for parent in root.iter() for child in parent}


def _pages_of(document, wanted) -> dict[int, dict[str, set[int]]]:
    """For every element ``wanted(box, parents)`` names a part of: {id(element): {part: pages its boxes are on}}."""
    parents = _parents(document)
    found: dict[int, dict[str, set[int]]] = {}
    for number, page in enumerate(document.pages, start=1):
        for box in _content(page):
            named = wanted(box, parents)
            if named:
                element, part = named
                found.setdefault(id(element), {"label": {_label(element)}}).setdefault(part, set()).add(number)
    return found


def _label(element) -> str:
    caption = element.find("figcaption") if element.tag == "figure" else element.find("caption")
    text = " ".join((caption if caption is not None else element).itertext())
    return " ".join(text.split())[:70]


def _ancestor(element, tag, parents):
    while element is not None and element.tag != tag:
        element = parents.get(element)
    return element


def _figure_and_table_parts(box, parents):
    from weasyprint.formatting_structure import boxes

    element = box.element
    if element is None or getattr(box, "element_tag", None) is None:
        return None
    tag = box.element_tag
    if tag == "img" and isinstance(box, boxes.ReplacedBox) and parents[element].tag == "figure":
        return parents[element], "body"  # the figure's own image, not the colour scale beside it
    if tag == "figcaption" and isinstance(box, boxes.BlockBox):
        return parents[element], "caption"
    if tag == "caption" and isinstance(box, boxes.TableCaptionBox):
        return parents[element], "caption"
    if isinstance(box, boxes.TableRowBox):
        table = _ancestor(element, "table", parents)
        if (table is not None and table.find("caption") is not None and parents[element].tag == "tbody"
                and element is table.find("tbody").find("tr")):
            return table, "body"
    return None


def table_pages(document) -> dict[str, list[int]]:
    """{caption: the pages its table's rows are on} for every table with a caption."""
    def rows(box, parents):
        from weasyprint.formatting_structure import boxes

        if isinstance(box, boxes.TableRowBox) and box.element is not None:
            table = _ancestor(box.element, "table", parents)
            if table is not None and table.find("caption") is not None:
                return table, "rows"
        return None

    return {next(iter(parts["label"])): sorted(parts["rows"]) for parts in _pages_of(document, rows).values()}


def separated_captions(document) -> list[tuple[str, list[int], list[int]]]:
    """(caption, its pages, the pages of the image or first row) wherever the two differ."""
    separated = []
    for parts in _pages_of(document, _figure_and_table_parts).values():
        if "caption" in parts and "body" in parts and parts["caption"] != parts["body"]:
            separated.append((next(iter(parts["label"])), sorted(parts["caption"]), sorted(parts["body"])))
    return separated


def _row_parts(box, parents):
    from weasyprint.formatting_structure import boxes

    if not isinstance(box, boxes.TableRowBox) or box.element is None:
        return None
    table = _ancestor(box.element, "table", parents)
    if table is None or table.find("thead") is None:
        return None
    return table, parents[box.element].tag  # thead, tbody or tfoot


def headless_continuations(document) -> list[tuple[str, list[int]]]:
    """(caption, pages) of tables with a header whose rows are on pages where the header is not repeated."""
    missing = []
    for parts in _pages_of(document, _row_parts).values():
        body = parts.get("tbody", set()) | parts.get("tfoot", set())
        if body - parts.get("thead", set()):
            missing.append((next(iter(parts["label"])), sorted(body - parts.get("thead", set()))))
    return missing


def stranded_headings(document) -> list[tuple[int, str]]:
    """(page, heading) of every h2 or h3 that is the last thing laid out on its page."""
    from weasyprint.formatting_structure import boxes

    parents = _parents(document)
    stranded = []
    pages = document.pages
    for number, page in enumerate(pages[:-1], start=1):
        last = None
        for box in _content(page):
            bottom = box.border_box_y() + box.border_height() if _marks(box) else None
            if bottom is not None and not isinstance(box, boxes.TableCellBox) and (last is None or bottom >= last[0]):
                last = (bottom, box)
        if last is not None:
            element = last[1].element
            while element is not None and element.tag not in ("h2", "h3", "body"):
                element = parents.get(element)
            if element is not None and element.tag in ("h2", "h3"):
                stranded.append((number, " ".join(" ".join(element.itertext()).split())))
    return stranded


def pdf_page_fills(pdf: Path) -> list[float]:
    """Per page of a PDF, the share of the content area above its lowest text baseline or image, from the
    text and image positions in its content streams; running headers and footers (in the margins) are left out."""
    from pypdf import PdfReader

    return [_pdf_page_fill(page) for page in PdfReader(pdf).pages]


def _pdf_page_fill(page) -> float:
    mm = 72 / 25.4
    height = float(page.mediabox.height)
    top, bottom_limit = height - TOP_MARGIN_MM * mm, BOTTOM_MARGIN_MM * mm
    lowest = top

    def seen(y: float) -> None:
        nonlocal lowest
        if bottom_limit - 1 <= y <= top + 1:
            lowest = min(lowest, y)

    def text(content, cm, tm, font, size):
        if content.strip():
            seen(tm[4] * cm[1] + tm[5] * cm[3] + cm[5] - 0.25 * size)  # the baseline, less the descent

    def operator(op, args, cm, tm):
        if op == b"Do":  # an image (or form) drawn on the unit square, placed by the current matrix
            seen(min(cm[5], cm[5] + cm[3]))

    page.extract_text(visitor_text=text, visitor_operand_before=operator)
    return round(min(max((top - lowest) / (top - bottom_limit), 0.0), 1.0), 3)
