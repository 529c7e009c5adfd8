"""The knowledge library: documents split into sections, deep links, full-text search.

    kb = load_knowledge()                              # the documents in knowledge/
    kb.resolve("common-failures.md#loss-plateau")      # -> Location(document, section)
    kb.search("warmup")                                # -> ranked SearchHit list with snippets

A section is the text from one heading to the next heading of any level. Its slug is the one
GitHub gives the heading (lower case, punctuation dropped, spaces turned into hyphens, "-1",
"-2" appended to repeats), computed the way Textual's `Markdown.goto_anchor` computes it, so a
link such as `optimizer-guide.md#warmup` opens the same heading in the app as on GitHub.

Search ranks sections with BM25 (Robertson & Zaragoza, 2009) over their words, heading words
counted several times; sections matching more of the query's words come first. Words are
matched by a light stem ("gradients" finds "gradient") and hyphenated words also match written
as one ("warmup" finds "warm-up"). `"quoted phrases"` must appear as written. No Textual here.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from nt_tui.errors import NtTuiError

DOCUMENT_SUFFIX = ".md"
#: The library's own index page: listed nowhere, it only describes the documents.
LIBRARY_INDEX = "README.md"
#: BM25 constants, the usual defaults (Robertson & Zaragoza, 2009).
BM25_K1 = 1.2
BM25_B = 0.75
#: A heading's words count this many times as often as body words.
TITLE_WEIGHT = 3
#: The browser shows one page at a time: a level-2 section with its subsections (the title
#: and its introduction are the first page).
PAGE_LEVEL = 2
#: A section whose heading is the query ("loss spikes") ranks above one whose heading only
#: contains it ("Loss spikes at scale"), which ranks above headings that merely share words.
EXACT_TITLE_BONUS = 2.0
TITLE_PHRASE_BONUS = 1.5
#: Characters of context a search snippet shows around its hits.
SNIPPET_CHARS = 180
#: Results `search` returns unless asked otherwise.
DEFAULT_LIMIT = 20
#: Words ignored in queries: they match everything and rank nothing.
STOP_WORDS = frozenset(
    "a an and are as at be but by can do does for from had has have how i if in into is it "
    "its me my of on or our should so than that the their then there these this to was we "
    "what when where which while who why will with you your after before about again".split())

#: A deep link as other modules write it: `document.md#heading-slug`.
LINK_PATTERN = re.compile(r"(?<![\w.-])([a-z0-9][a-z0-9_-]*\.md)#([a-z0-9][a-z0-9_%-]*)")

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_WORD = re.compile(r"[A-Za-z0-9]+(?:[-'][A-Za-z0-9]+)*")
_PART = re.compile(r"[A-Za-z0-9]+")
_PHRASE = re.compile(r'"([^"]+)"')
# Slug rules of Textual's `textual._slug.slug` (GitHub-like): drop punctuation except "-" and
# "_" and most emoji, turn whitespace into "-".
_SLUG_REMOVE = re.compile(
    "[" + re.escape(string.punctuation.replace("-", "").replace("_", ""))
    + "\U000024C2-\U0001F251\U00002702-\U000027B0\U0001F1E0-\U0001F1FF\U0001F300-\U0001F5FF"
    "\U0001F600-\U0001F64F\U0001F680-\U0001F6FF\U0001F900-\U0001F9FF\u200d\u2640-\u2642]+")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_CODE_SPAN = re.compile(r"`+([^`]*)`+")
# Emphasis: asterisks anywhere, underscores only around words (CommonMark: "lr_min" stays).
_EMPHASIS = re.compile(r"(\*{1,3}|~~)(?=\S)(.+?)(?<=\S)\1|"
                       r"(?<![A-Za-z0-9])(_{1,3})(?=\S)(.+?)(?<=\S)\3(?![A-Za-z0-9])")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


def slugify(title: str) -> str:
    """The GitHub-style anchor of a heading's plain text: `NaN or Inf loss` -> `nan-or-inf-loss`."""
    result = _SLUG_REMOVE.sub("", title.strip().lower())
    return quote(re.sub(r"\s", "-", result))


def unique_slugs(titles: list[str]) -> list[str]:
    """The anchors of a document's headings in order: repeats get "-1", "-2" (as on GitHub and
    in Textual's `Markdown.goto_anchor`)."""
    used: Counter = Counter()
    slugs = []
    for title in titles:
        base = slugify(title)
        slugs.append(f"{base}-{used[base]}" if used[base] else base)
        used[base] += 1
    return slugs


def inline_plain(markdown: str) -> str:
    """Inline Markdown as the reader sees it: links become their text, emphasis and code
    marks go, escapes are resolved, runs of whitespace become one space."""
    text = _LINK.sub(r"\1", markdown)
    spans: list[str] = []

    def keep_code(match: re.Match) -> str:
        spans.append(match.group(1))
        return f"\x00{len(spans) - 1}\x00"

    text = _CODE_SPAN.sub(keep_code, text)
    previous = None
    while previous != text:
        previous, text = text, _EMPHASIS.sub(lambda m: m.group(2) or m.group(4), text)
    text = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: spans[int(m.group(1))], text)
    return re.sub(r"\s+", " ", text).strip()


def plain_text(markdown: str) -> str:
    """A block of Markdown as plain running text (tables flattened, rules and marks dropped)."""
    lines = []
    for line in markdown.splitlines():
        if _TABLE_RULE.match(line) or _FENCE.match(line):
            continue
        line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)
        if line.lstrip().startswith("|"):
            line = " ; ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
        lines.append(line)
    return inline_plain("\n".join(lines))


def stem(word: str) -> str:
    """A light English stem so plurals meet their singular: gradients -> gradient, losses ->
    loss, batches -> batch, entropies -> entropy. Short words are left alone."""
    word = word.lower()
    if len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[tuple[str, int, int]]:
    """(stem, start, end) for every word of `text`; a hyphenated word also yields its parts
    and the parts joined ("warm-up" -> warm, up, warmup)."""
    found = []
    for match in _WORD.finditer(text):
        token = match.group(0)
        parts = list(_PART.finditer(token))
        if len(parts) > 1:
            found.append((stem("".join(p.group(0) for p in parts)), match.start(), match.end()))
            for part in parts:
                found.append((stem(part.group(0)), match.start() + part.start(),
                              match.start() + part.end()))
        else:
            found.append((stem(token), match.start(), match.end()))
    return found


@dataclass(frozen=True)
class Section:
    """One heading of a document and the text up to the next heading."""

    document: str
    title: str
    level: int
    slug: str
    #: 0-based line of the heading in the document, and the line the section's text ends at
    line: int
    end: int
    #: the section's own Markdown, heading line excluded
    markdown: str
    #: titles of the enclosing headings, outermost first
    parents: tuple[str, ...] = ()

    @property
    def link(self) -> str:
        return f"{self.document}#{self.slug}"

    @property
    def breadcrumb(self) -> str:
        return " > ".join((*self.parents, self.title))

    @property
    def plain(self) -> str:
        return plain_text(self.markdown)

    def part(self, label: str) -> list[str]:
        """The items listed under a bold label such as `**Fix**` in this section, as plain
        text, one per bullet (continuation lines joined)."""
        items: list[str] = []
        inside = False
        for line in self.markdown.splitlines():
            stripped = line.strip()
            if re.fullmatch(r"\*\*[^*]+\*\*:?", stripped):
                inside = stripped.strip("*:").strip().lower() == label.lower()
                continue
            if not inside:
                continue
            if re.match(r"^\s*(?:[-*+]|\d+[.)])\s+", line):
                items.append(line)
            elif stripped and items:
                items[-1] += " " + stripped
            elif stripped:
                inside = False
        return [inline_plain(re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", item)) for item in items]

    def tables(self) -> list[list[list[str]]]:
        """The pipe tables of this section: rows of plain-text cells, header row first."""
        return markdown_tables(self.markdown)


@dataclass(frozen=True)
class Document:
    """One knowledge document: its file name, title, text and sections in order."""

    name: str
    title: str
    path: Path
    text: str
    sections: tuple[Section, ...]

    def section(self, slug: str) -> Section | None:
        return next((s for s in self.sections if s.slug == slug), None)

    def page(self, section: Section | None) -> tuple[Section, ...]:
        """The sections shown together with `section`: its top-level section (the title, or
        a level-2 heading) and everything under it. None stands for the title's page."""
        if not self.sections:
            return ()
        index = self.sections.index(section) if section is not None else 0
        while index > 0 and self.sections[index].level > PAGE_LEVEL:
            index -= 1
        root = self.sections[index]
        end = index + 1
        while end < len(self.sections) and self.sections[end].level > max(root.level,
                                                                           PAGE_LEVEL):
            end += 1
        return self.sections[index:end]

    def page_markdown(self, page: tuple[Section, ...]) -> str:
        """The Markdown of a page: its heading lines and their text."""
        lines = self.text.splitlines()
        return "\n".join(lines[page[0].line:page[-1].end]) if page else ""

    @property
    def pages(self) -> list[tuple[Section, ...]]:
        """Every page of the document in order."""
        found, index = [], 0
        while index < len(self.sections):
            page = self.page(self.sections[index])
            found.append(page)
            index += len(page)
        return found

    @property
    def summary(self) -> str:
        """The first paragraph after the title, as plain text."""
        intro = self.sections[0].markdown if self.sections else ""
        paragraph = intro.strip().split("\n\n")[0] if intro.strip() else ""
        return plain_text(paragraph)


@dataclass(frozen=True)
class Location:
    """Where a link points: a document, and a section of it (None: the top)."""

    document: Document
    section: Section | None

    @property
    def link(self) -> str:
        return self.section.link if self.section else self.document.name


@dataclass(frozen=True)
class SearchHit:
    """A section that matches a query, with a snippet and where the matches are in it."""

    section: Section
    score: float
    #: query words (stems) the section contains
    matched: tuple[str, ...]
    #: how often they occur in the section
    occurrences: int
    snippet: str
    #: (start, end) of each match inside `snippet`
    spans: tuple[tuple[int, int], ...]

    @property
    def link(self) -> str:
        return self.section.link

    def marked_snippet(self, before: str = "[", after: str = "]") -> str:
        """The snippet with every match wrapped in `before`/`after` (for plain terminals)."""
        out, last = [], 0
        for start, end in self.spans:
            out += [self.snippet[last:start], before, self.snippet[start:end], after]
            last = end
        out.append(self.snippet[last:])
        return "".join(out)

    def to_dict(self) -> dict:
        return {"link": self.link, "document": self.section.document,
                "section": self.section.title, "score": round(self.score, 3),
                "matched": list(self.matched), "snippet": self.snippet,
                "spans": [list(span) for span in self.spans]}


@dataclass(frozen=True)
class Query:
    """A parsed search query: word stems (stop words dropped) and quoted phrases."""

    text: str
    terms: tuple[str, ...]
    phrases: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> "Query":
        phrases = tuple(p.strip().lower() for p in _PHRASE.findall(text) if p.strip())
        bare = text.replace('"', " ")
        stems = [s for s, start, end in words(bare)]
        kept = [s for s, start, end in words(bare)
                if bare[start:end].lower() not in STOP_WORDS and s not in STOP_WORDS
                and (len(s) > 1 or s.isdigit())] or stems
        return cls(text, tuple(dict.fromkeys(kept)), phrases)

    @property
    def empty(self) -> bool:
        return not self.terms and not self.phrases


@dataclass
class _Posting:
    """Per-section search statistics."""

    counts: Counter
    length: int
    plain: str
    #: heading and text in lower case, for phrase matching
    lowered: str


def parse_link(link: str) -> tuple[str, str]:
    """("doc.md", "slug") from "doc.md#slug" (slug "" when the link names only a document)."""
    document, _, slug = link.strip().partition("#")
    return document.strip(), slug.strip()


def parse_document(path: Path) -> Document:
    """Read one Markdown file and split it into sections by its ATX headings."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NtTuiError(f"cannot read knowledge document {path}: {exc}",
                         hint="check the file exists and is UTF-8 text") from exc
    lines = text.splitlines()
    headings: list[tuple[int, int, str]] = []
    fence: str | None = None
    for number, line in enumerate(lines):
        opened = _FENCE.match(line)
        if opened:
            marker = opened.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
            continue
        heading = _HEADING.match(line) if fence is None else None
        if heading:
            headings.append((number, len(heading.group(1)), inline_plain(heading.group(2))))
    slugs = unique_slugs([title for _, _, title in headings])
    sections = []
    stack: list[tuple[int, str]] = []
    for index, (number, level, title) in enumerate(headings):
        end = headings[index + 1][0] if index + 1 < len(headings) else len(lines)
        slug = slugs[index]
        while stack and stack[-1][0] >= level:
            stack.pop()
        parents = tuple(t for _, t in stack)
        stack.append((level, title))
        sections.append(Section(path.name, title, level, slug, number, end,
                                "\n".join(lines[number + 1:end]), parents))
    title = next((s.title for s in sections if s.level == 1), path.stem)
    return Document(path.name, title, path, text, tuple(sections))


def markdown_tables(markdown: str) -> list[list[list[str]]]:
    """Every pipe table in `markdown`: a list of rows of plain-text cells, header first."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    lines = markdown.splitlines()
    for index, line in enumerate(lines):
        is_row = line.lstrip().startswith("|")
        if is_row and not _TABLE_RULE.match(line):
            cells = [inline_plain(c) for c in line.strip().strip("|").split("|")]
            starts_table = index + 1 < len(lines) and _TABLE_RULE.match(lines[index + 1])
            if current or starts_table:
                current.append(cells)
            continue
        if is_row:
            continue
        if current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


class KnowledgeBase:
    """The documents of one folder, indexed for links and search."""

    def __init__(self, directory: Path | None = None) -> None:
        from nt_tui.resources import knowledge_dir

        self.directory = Path(directory) if directory is not None else knowledge_dir()
        if not self.directory.is_dir():
            raise NtTuiError(f"no knowledge folder at {self.directory}",
                             hint="reinstall nt-tui, or run it from a source checkout")
        paths = sorted(p for p in self.directory.glob(f"*{DOCUMENT_SUFFIX}")
                       if p.name != LIBRARY_INDEX)
        self.documents: tuple[Document, ...] = tuple(parse_document(p) for p in paths)
        self._by_name = {d.name: d for d in self.documents}
        self.sections: tuple[Section, ...] = tuple(
            s for d in self.documents for s in d.sections)
        self._postings: list[_Posting] = []
        self._document_frequency: Counter = Counter()
        #: stem -> surface forms seen in the documents (for highlighting)
        self._forms: dict[str, set[str]] = defaultdict(set)
        for section in self.sections:
            plain = section.plain
            counts: Counter = Counter()
            for token, start, end in words(plain):
                counts[token] += 1
                self._forms[token].add(plain[start:end].lower())
            for token, start, end in words(section.title):
                counts[token] += TITLE_WEIGHT
                self._forms[token].add(section.title[start:end].lower())
            self._postings.append(_Posting(counts, sum(counts.values()), plain,
                                           f"{section.title}\n{plain}".lower()))
            self._document_frequency.update(counts.keys())
        lengths = [p.length for p in self._postings]
        self._average_length = (sum(lengths) / len(lengths)) if lengths else 1.0

    # -- documents and links -------------------------------------------------------------

    def document(self, name: str) -> Document:
        """The document called `name` ("scaling-laws.md"; the ".md" may be left out)."""
        key = name if name.endswith(DOCUMENT_SUFFIX) else name + DOCUMENT_SUFFIX
        if key not in self._by_name:
            raise NtTuiError(f"no knowledge document {name!r}",
                             hint=f"documents: {', '.join(self._by_name) or 'none'}")
        return self._by_name[key]

    def resolve(self, link: str, relative_to: str | None = None) -> Location:
        """The document and section `link` points to.

        `link` is "doc.md#slug", "doc.md", or "#slug" (in the document `relative_to`); paths
        such as "knowledge/doc.md" or "./doc.md" are reduced to the file name. An unknown
        document or heading raises `NtTuiError` suggesting the closest ones.
        """
        name, slug = parse_link(link)
        name = Path(name).name if name else (relative_to or "")
        if not name:
            raise NtTuiError(f"the link {link!r} names no document",
                             hint="write links as document.md#heading-slug")
        document = self.document(name)
        if not slug:
            return Location(document, None)
        section = document.section(slug)
        if section is None:
            from difflib import get_close_matches

            close = get_close_matches(slug, [s.slug for s in document.sections], n=3)
            hint = (f"did you mean {', '.join(f'{document.name}#{c}' for c in close)}?"
                    if close else f"open {document.name} to see its headings")
            raise NtTuiError(f"{document.name} has no heading #{slug}", hint=hint)
        return Location(document, section)

    def section(self, link: str) -> Section:
        """The section a "doc.md#slug" link points to (`NtTuiError` if it names none)."""
        location = self.resolve(link)
        if location.section is None:
            raise NtTuiError(f"the link {link!r} names a document, not a section",
                             hint="add the heading slug, e.g. optimizer-guide.md#warmup")
        return location.section

    # -- search ---------------------------------------------------------------------------

    def search(self, query: str | Query, limit: int = DEFAULT_LIMIT) -> list[SearchHit]:
        """Sections matching `query`, best first: more of the query's words matched, then the
        higher BM25 score. Quoted phrases must appear in the section."""
        parsed = query if isinstance(query, Query) else Query.parse(query)
        if parsed.empty:
            return []
        sections = len(self._postings)
        pattern = self.highlight_pattern(parsed)
        hits = []
        for section, posting in zip(self.sections, self._postings):
            if any(phrase not in posting.lowered for phrase in parsed.phrases):
                continue
            matched = [t for t in parsed.terms if posting.counts.get(t)]
            if parsed.terms and not matched:
                continue
            score = 0.0
            norm = BM25_K1 * (1 - BM25_B + BM25_B * posting.length / self._average_length)
            for term in matched:
                frequency = posting.counts[term]
                df = self._document_frequency[term]
                idf = math.log(1 + (sections - df + 0.5) / (df + 0.5))
                score += idf * frequency * (BM25_K1 + 1) / (frequency + norm)
            title = " ".join(w for w, _, _ in words(section.title))
            asked = " ".join(parsed.terms)
            if asked and title == asked:
                score *= EXACT_TITLE_BONUS
            elif asked and f" {asked} " in f" {title} ":
                score *= TITLE_PHRASE_BONUS
            snippet, spans = _snippet(posting.plain, pattern)
            hits.append(SearchHit(section, score, tuple(matched),
                                  sum(posting.counts[t] for t in matched), snippet, spans))
        hits.sort(key=lambda h: (-len(h.matched), -h.score, h.section.document, h.section.line))
        return hits[:limit]

    def highlight_pattern(self, query: str | Query) -> re.Pattern | None:
        """A case-insensitive regex matching every written form of the query's words (and its
        phrases) in the documents' text; None for an empty query."""
        parsed = query if isinstance(query, Query) else Query.parse(query)
        forms: set[str] = set(parsed.phrases)
        for term in parsed.terms:
            forms |= self._forms.get(term, set())
            forms.add(term)
        forms.discard("")
        if not forms:
            return None
        alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        return re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE)

    # -- links inside the documents ------------------------------------------------------

    def broken_links(self) -> list[tuple[str, str]]:
        """(document, link) for every relative Markdown link in the documents that does not
        resolve to a document and heading."""
        broken = []
        for document in self.documents:
            for target in re.findall(r"\]\(([^)\s]+)\)", document.text):
                if re.match(r"^[a-z]+:", target):
                    continue
                try:
                    self.resolve(target, relative_to=document.name)
                except NtTuiError:
                    broken.append((document.name, target))
        return broken


def _snippet(plain: str, pattern: re.Pattern | None) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of `plain` around its densest cluster of matches, with the match spans."""
    matches = list(pattern.finditer(plain)) if pattern else []
    if not matches:
        text = plain[:SNIPPET_CHARS]
        return (text + ("…" if len(plain) > SNIPPET_CHARS else "")), ()
    best, best_count = matches[0].start(), 0
    for match in matches:
        window = {m.group(0).lower() for m in matches
                  if match.start() <= m.start() < match.start() + SNIPPET_CHARS}
        if len(window) > best_count:
            best, best_count = match.start(), len(window)
    start = max(0, best - SNIPPET_CHARS // 4)
    if start:
        space = plain.rfind(" ", 0, start)
        start = space + 1 if space >= 0 else start
    end = min(len(plain), start + SNIPPET_CHARS)
    if end < len(plain):
        space = plain.rfind(" ", start, end)
        end = space if space > best else end
    prefix = "…" if start else ""
    text = prefix + plain[start:end] + ("…" if end < len(plain) else "")
    spans = tuple((m.start() - start + len(prefix), m.end() - start + len(prefix))
                  for m in matches if m.start() >= start and m.end() <= end)
    return text, spans


@lru_cache(maxsize=4)
def _cached(directory: str, stamp: tuple[tuple[str, float], ...]) -> KnowledgeBase:
    return KnowledgeBase(Path(directory))


def load_knowledge(directory: Path | None = None) -> KnowledgeBase:
    """The knowledge base of `directory` (default: the shipped documents), cached until a
    document in it changes."""
    from nt_tui.resources import knowledge_dir

    folder = Path(directory) if directory is not None else knowledge_dir()
    try:
        stamp = tuple(sorted((p.name, p.stat().st_mtime)
                             for p in folder.glob(f"*{DOCUMENT_SUFFIX}")))
    except OSError:
        stamp = ()
    return _cached(str(folder), stamp)
