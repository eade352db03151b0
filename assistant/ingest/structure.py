"""Pure: extracted text -> Blocks (paragraphs, list items, headings, bylines, debris)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ..types import Block, PageSpan

_LIST_MARKER = re.compile(r"^\s*(?:[•·▪◦●○■\-–—*]|\(?\d{1,3}[.)]|\(?[a-z][.)]|\([ivx]+\))\s+")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)]*)\)")
_NAV_SEPARATORS = re.compile(r"[>|/·»›•\s*_#]+")
_BACK_TO_TOP = re.compile(r"^\s*(?:[↑⬆^]\s*)?(?:back\s+to\s+)?top\s*[↑⬆]?\s*$|^\s*[↑⬆]\s*\w*\s*$", re.I)
CONTACT_LINE = re.compile(
    r"^\s*(?:got a tip|reach out|follow (?:me|us)|subscribe|share (?:this|on)|sign up|"
    r"click here|read more|related (?:articles|posts|links)|cookie|skip to)\b",
    re.I,
)
# Sentences about the writer, as author boxes at the end of web articles put them.
_BYLINE = re.compile(
    r"\b(?:is (?:the |a |an )?(?:founder|co-founder|author|writer|editor|journalist|contributor)\b|"
    r"is (?:also )?(?:a |an )?(?:digital entrepreneur|tech enthusiast|freelance)|"
    r"(?:he|she|they) (?:is|are) (?:an? )?author at)",
    re.I,
)
_TAGS_MARKER = re.compile(r"^\s*(?:tags?|topics?|categories|keywords|share)\s*:?\s*$", re.I)
_LEAD_IN_WORDS = {"for", "to", "in", "on", "by", "with", "from", "as", "at", "and", "or", "the", "a", "an"}
_TERMINAL = re.compile(r"[.!?;:,)\"”’]\s*$")
_SENTENCE_END = re.compile(r"[.!?:;][\"”’)]*\s*$")


@dataclass
class _Line:
    start: int
    end: int  # without the newline
    text: str
    page: int | None


def _lines(text: str, pages: tuple[PageSpan, ...]) -> list[_Line]:
    out: list[_Line] = []
    page_iter = iter(pages)
    page = next(page_iter, None)
    pos = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        while page is not None and pos >= page.end:
            page = next(page_iter, None)
        out.append(_Line(pos, pos + len(body), body, page.number if page else None))
        pos += len(raw)
    return out


def is_nav_line(line: str) -> bool:
    """A line made only of markdown links, breadcrumbs separators or "back to top"."""
    stripped = line.strip()
    if not stripped:
        return False
    if _BACK_TO_TOP.match(stripped) or CONTACT_LINE.match(stripped):
        return True
    links = _MD_LINK.findall(stripped)
    if not links:
        return False
    rest = _MD_LINK.sub("", stripped)
    if not _NAV_SEPARATORS.sub("", rest):
        return True
    # A breadcrumb trail: links followed by the current page's name after ">".
    return rest.lstrip(" *_").startswith(">") or " > " in rest


def _word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _heading_like(text: str) -> bool:
    stripped = text.strip().strip("*#_ ").strip()
    if not stripped or not re.search(r"[A-Za-z]", stripped):
        return False
    first = stripped.split()[0].lower()
    if first in _LEAD_IN_WORDS:
        return False  # "For the United States:" introduces what follows; it is not a title
    if stripped.endswith(":") and _word_count(stripped) <= 8:
        return True
    return _word_count(stripped) <= 14 and not _TERMINAL.search(stripped)


def _repeated_page_lines(lines: list[_Line], page_count: int) -> set[str]:
    """Running headers and footers: lines that recur near the top or bottom of most pages."""
    if page_count < 3:
        return set()
    by_page: dict[int | None, list[_Line]] = {}
    for line in lines:
        if line.text.strip():
            by_page.setdefault(line.page, []).append(line)
    seen: Counter[str] = Counter()
    for page_lines in by_page.values():
        edge = page_lines[:3] + page_lines[-3:]
        seen.update({_page_key(line.text) for line in edge})
    threshold = max(3, page_count // 2)
    return {key for key, count in seen.items() if count >= threshold and key}


def _page_key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.split())).lower()


UNWRAPPED_MEDIAN_CHARS = 100


def segment(text: str, pages: tuple[PageSpan, ...] = (), pdf: bool = False) -> tuple[Block, ...]:
    """Split text into blocks and give each a role (body, heading, byline, debris)."""
    lines = _lines(text, pages)
    repeated = _repeated_page_lines(lines, len(pages)) if pdf else set()
    median_len = _median([len(line.text.strip()) for line in lines if line.text.strip()])

    # 1. Group lines into raw blocks, breaking at blank lines, list markers and pages.
    raw: list[tuple[list[_Line], bool]] = []  # (lines, is_debris)
    current: list[_Line] = []

    def flush() -> None:
        if current:
            raw.append((list(current), False))
            current.clear()

    # Text that is not hard-wrapped (most lines longer than a wrapped line could be) keeps
    # one paragraph, list item or heading per line: there, every line break ends a block.
    line_per_block = not pdf and median_len >= UNWRAPPED_MEDIAN_CHARS
    for line in lines:
        stripped = line.text.strip()
        if not stripped:
            flush()
            continue
        if line_per_block:
            flush()
        if is_nav_line(stripped) or (repeated and _page_key(stripped) in repeated):
            flush()
            raw.append(([line], True))
            continue
        if current and (line.page != current[-1].page or _LIST_MARKER.match(line.text)):
            flush()
        current.append(line)
        # In PDFs paragraphs rarely have blank lines between them: a short line that
        # ends a sentence closes the paragraph.
        if pdf and _SENTENCE_END.search(stripped) and len(stripped) < 0.7 * median_len:
            flush()
    flush()

    blocks: list[Block] = []
    for group, debris in raw:
        start = group[0].start + (len(group[0].text) - len(group[0].text.lstrip()))
        end = group[-1].start + len(group[-1].text.rstrip())
        role = "debris" if debris else "body"
        blocks.append(Block(start, end, role, group[0].page))

    if not pdf:
        blocks = _mark_footer(text, blocks)
    blocks = _mark_bylines(text, blocks)
    return tuple(_mark_headings(text, blocks))


def _median(values: list[int]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return float(ordered[len(ordered) // 2])


def _single_line(text: str, block: Block) -> bool:
    return "\n" not in text[block.start:block.end]


def _mark_footer(text: str, blocks: list[Block]) -> list[Block]:
    """Footer link lists and tag lines: the trailing run of short, unpunctuated lines."""
    out = list(blocks)
    i = len(out) - 1
    while i >= 0:
        block = out[i]
        body = text[block.start:block.end].strip()
        if block.role == "debris":
            i -= 1
            continue
        short_label = _word_count(body) <= 6 and not _TERMINAL.search(body)
        tag_line = not re.search(r"[.,;:!?]", body) and _word_count(body) <= 20
        if _single_line(text, block) and (short_label or tag_line):
            out[i] = Block(block.start, block.end, "debris", block.page)
            i -= 1
            continue
        break
    # A "TAGS" marker turns everything after it into debris.
    for j, block in enumerate(out):
        if _TAGS_MARKER.match(text[block.start:block.end]) and j > len(out) // 2:
            out[j:] = [Block(b.start, b.end, "debris", b.page) for b in out[j:]]
            break
    return out


def _mark_bylines(text: str, blocks: list[Block]) -> list[Block]:
    """Author blurbs in the last part of a document become bylines; contact lines debris."""
    out = list(blocks)
    tail_from = int(len(out) * 0.6)
    for i in range(tail_from, len(out)):
        block = out[i]
        if block.role != "body":
            continue
        body = text[block.start:block.end]
        if _BYLINE.search(body):
            out[i] = Block(block.start, block.end, "byline", block.page)
        elif CONTACT_LINE.match(body):
            out[i] = Block(block.start, block.end, "debris", block.page)
    return out


def _titles_a_section(text: str, blocks: list[Block], i: int) -> bool:
    """"Article 5" / "Prohibited AI practices" / long text: a title line under a label line."""
    block = blocks[i]
    if not _single_line(text, block) or not _heading_like(text[block.start:block.end]):
        return False
    after = next((blocks[j] for j in range(i + 1, len(blocks)) if blocks[j].role != "debris"), None)
    return after is not None and after.role == "body" and (
        not _single_line(text, after) or _word_count(text[after.start:after.end]) >= 10)


def _mark_headings(text: str, blocks: list[Block]) -> list[Block]:
    """A short unpunctuated line followed by body text is a heading for what follows."""
    out = list(blocks)
    for i, block in enumerate(out):
        if block.role != "body" or not _single_line(text, block):
            continue
        if not _heading_like(text[block.start:block.end]):
            continue
        at = next((j for j in range(i + 1, len(out)) if out[j].role != "debris"), None)
        if at is None or out[at].role != "body":
            continue
        following = out[at]
        if _single_line(text, following) and _word_count(text[following.start:following.end]) < 10 \
                and not _titles_a_section(text, out, at):
            continue  # a run of short lines (a signature block, an address) is content
        out[i] = Block(block.start, block.end, "heading", block.page)
    return out
