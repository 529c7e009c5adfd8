"""The knowledge browser: documents, contents, rendered Markdown, search, history, deep links.

`KnowledgeScreen(link="common-failures.md#nan-or-inf-loss")` opens at that section (warnings,
diagnoses and advisors call `app.open_knowledge(link)`); `KnowledgeScreen(query="warmup")`
opens with that search done and its best hit shown. Links inside the documents are routed
here (`open_links=False`), so they move through the library and into the history.

Documents are shown a page at a time (a level-2 section with its subsections; the title page
lists the sections), which keeps rendering fast on large documents; `[` and `]` turn pages.
Search results list every matching section with its hits highlighted; opening one renders its
page with every hit highlighted and scrolls to the first hit in that section; `n` and `N` move
between hits. The index and search live in nt_tui.knowledge (no Textual there).
"""

from __future__ import annotations

import re
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Markdown, OptionList, Static
from textual.widgets.markdown import MarkdownFence
from textual.widgets.option_list import Option

from nt_tui.errors import NtTuiError
from nt_tui.knowledge import (
    Document, KnowledgeBase, Location, SearchHit, Section, load_knowledge)

#: How a hit looks in results and in the document (bold reverse reads without colour too).
HIT_STYLE = "bold reverse"
#: Results listed for a query, and the characters of context each shows.
RESULT_LIMIT = 40
RESULT_CONTEXT = 80
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


class PlainFence(MarkdownFence):
    """A code block: highlighted by its language, as plain text when it names none (the
    documents' formulas; guessing a lexer for each takes Pygments most of a second)."""

    @classmethod
    def highlight(cls, code: str, language: str, ansi: bool = False,
                  dark: bool = False) -> Content:
        return super().highlight(code, language or "text", ansi=ansi, dark=dark)


class KnowledgeMarkdown(Markdown):
    """Textual's Markdown with plain code blocks."""

    BLOCKS = {**Markdown.BLOCKS, "fence": PlainFence, "code_block": PlainFence}


class KnowledgeScreen(Screen):
    """Browse and search the knowledge documents."""

    BINDINGS = [
        Binding("escape", "back_or_clear", "Back", id="knowledge.back"),
        Binding("slash,ctrl+f", "focus_search", "Search", id="knowledge.search"),
        Binding("alt+left,b", "history_back", "History back", id="knowledge.history_back"),
        Binding("alt+right,f", "history_forward", "Forward", id="knowledge.history_forward"),
        Binding("n", "next_hit", "Next hit", id="knowledge.next_hit"),
        Binding("N", "next_hit(-1)", "Previous hit", show=False, id="knowledge.previous_hit"),
        Binding("left_square_bracket", "turn_page(-1)", "Prev page", show=False,
                id="knowledge.previous_page"),
        Binding("right_square_bracket", "turn_page(1)", "Next page",
                id="knowledge.next_page"),
        Binding("t", "focus_contents", "Contents", show=False, id="knowledge.contents"),
    ]
    DEFAULT_CSS = """
    KnowledgeScreen #knowledge-search { margin: 0 0; }
    KnowledgeScreen #knowledge-side { width: 34; max-width: 40%; }
    KnowledgeScreen #knowledge-documents { height: auto; max-height: 8; }
    KnowledgeScreen #knowledge-pane-title { padding: 0 1; text-style: bold; }
    KnowledgeScreen #knowledge-toc, KnowledgeScreen #knowledge-results { height: 1fr; }
    KnowledgeScreen #knowledge-location { padding: 0 1; background: $panel; height: 1; }
    KnowledgeScreen #knowledge-view { height: 1fr; }
    KnowledgeScreen #knowledge-pager { color: $text-muted; padding: 1 2; }
    KnowledgeScreen .-current-hit { background: $accent 25%; }
    """

    def __init__(self, *, link: str | None = None, query: str | None = None,
                 directory: Path | None = None) -> None:
        super().__init__()
        self.kb: KnowledgeBase = load_knowledge(directory)
        if not self.kb.documents:
            raise NtTuiError(f"no knowledge documents in {self.kb.directory}",
                             hint="reinstall nt-tui, or run it from a source checkout")
        self.start_location: Location | None = self.kb.resolve(link) if link else None
        self.start_query = query or ""
        self.history: list[str] = []
        self.history_index = -1
        self.current_document: str | None = None
        self.current_link: str | None = None
        #: the sections on the rendered page, and their heading widgets' ids
        self.page: tuple[Section, ...] = ()
        self._page_ids: list[str] = []
        self.query_text = ""
        self.pattern: re.Pattern | None = None
        self.hits: list[SearchHit] = []
        self.hit_widgets: list[Widget] = []
        self.hit_index = -1
        self._originals: dict[Widget, Content] = {}
        self._highlighted_with: re.Pattern | None = None

    # -- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder='Search all documents: warmup, "loss spikes", lora rank  (/)',
                    id="knowledge-search")
        with Horizontal():
            with Vertical(id="knowledge-side"):
                yield OptionList(*(Option(d.title, id=d.name) for d in self.kb.documents),
                                 id="knowledge-documents")
                yield Static("Contents", id="knowledge-pane-title")
                yield OptionList(id="knowledge-toc")
                yield OptionList(id="knowledge-results")
            with Vertical():
                yield Static("", id="knowledge-location")
                with VerticalScroll(id="knowledge-view"):
                    yield KnowledgeMarkdown(id="knowledge-markdown", open_links=False)
                    yield Static("", id="knowledge-pager")
        yield Footer()

    @property
    def markdown(self) -> Markdown:
        return self.query_one("#knowledge-markdown", Markdown)

    async def on_mount(self) -> None:
        self.query_one("#knowledge-results").display = False
        if self.start_query:
            self.query_one("#knowledge-search", Input).value = self.start_query
            self._search(self.start_query)
        if self.start_location is not None:
            await self.navigate(self.start_location.link)
        elif self.hits:
            await self.open_hit(self.hits[0])
        else:
            await self.navigate(self.kb.documents[0].name)
        self.query_one("#knowledge-view").focus()

    # -- navigation -----------------------------------------------------------------------

    async def navigate(self, link: str, *, record: bool = True) -> bool:
        """Show `link` ("doc.md#slug", "doc.md" or "#slug"); False (and a notification) when
        it names no document or heading."""
        try:
            location = self.kb.resolve(link, relative_to=self.current_document)
        except NtTuiError as exc:
            self.notify(exc.one_line(), title="Link not found", severity="error")
            return False
        document = location.document
        if document.name != self.current_document:
            self.current_document = document.name
            self._fill_contents(document)
        page = document.page(location.section)
        if page != self.page:
            await self._render_page(document, page)
        self._highlight()
        target = self._first_hit_in(location) or self._heading_widget(location.section)
        view = self.query_one("#knowledge-view", VerticalScroll)
        if target is None or location.section is None or location.section is page[0]:
            view.scroll_home(animate=False)
        if target is not None and location.section is not None:
            self.call_after_refresh(view.scroll_to_widget, target, top=True, animate=False)
        self.current_link = location.link
        if record and self.history[self.history_index:self.history_index + 1] != [location.link]:
            del self.history[self.history_index + 1:]
            self.history.append(location.link)
            self.history_index = len(self.history) - 1
        self._show_location(location)
        return True

    async def open_hit(self, hit: SearchHit) -> None:
        """Open a search hit: its page highlighted, scrolled to the first hit there."""
        await self.navigate(hit.link)

    async def _render_page(self, document: Document, page: tuple[Section, ...]) -> None:
        self.page = page
        self._originals.clear()
        self._highlighted_with = None
        source = document.page_markdown(page)
        if page and page[0].level == 1:
            source += "\n\n**In this document**\n\n" + "\n".join(
                f"- [{p[0].title}](#{p[0].slug})" for p in document.pages[1:])
        await self.markdown.update(source)
        self._page_ids = [block_id for _, _, block_id in self.markdown.table_of_contents]
        pages = document.pages
        index = pages.index(page)
        turns = [f"page {index + 1} of {len(pages)}"]
        if index > 0:
            turns.append(f"[ previous: {pages[index - 1][0].title}")
        if index + 1 < len(pages):
            turns.append(f"] next: {pages[index + 1][0].title}")
        self.query_one("#knowledge-pager", Static).update(Content("   ".join(turns)))

    def _heading_widget(self, section: Section | None) -> Widget | None:
        if section is None or section not in self.page:
            return None
        index = self.page.index(section)
        if index >= len(self._page_ids):
            return None
        return self.markdown.query_one(f"#{self._page_ids[index]}")

    def _fill_contents(self, document: Document) -> None:
        """The contents list: every heading of the document, indented by level."""
        contents = self.query_one("#knowledge-toc", OptionList)
        contents.clear_options()
        contents.add_options(Option(f"{'  ' * (section.level - 1)}{section.title}",
                                    id=section.slug) for section in document.sections)

    @on(Markdown.TableOfContentsUpdated)
    def _contents_updated(self, event: Markdown.TableOfContentsUpdated) -> None:
        """The rendered page's headings (level, title, widget id), as Textual found them."""
        if event.markdown is self.markdown:
            self._page_ids = [block_id for _, _, block_id in event.table_of_contents]

    def _show_location(self, location: Location) -> None:
        where = location.document.title
        if location.section is not None and location.section.level > 1:
            where += " > " + " > ".join((*location.section.parents[1:], location.section.title))
        if self.hit_widgets:
            where += f"   [{len(self.hit_widgets)} hits on this page: n / N]"
        self.query_one("#knowledge-location", Static).update(Content(where))
        self.sub_title = location.link
        documents = self.query_one("#knowledge-documents", OptionList)
        documents.highlighted = [d.name for d in self.kb.documents].index(location.document.name)
        if location.section is not None:
            self.query_one("#knowledge-toc", OptionList).highlighted = \
                location.document.sections.index(location.section)

    # -- search and highlighting ----------------------------------------------------------

    def _search(self, text: str) -> None:
        self.query_text = text.strip()
        self.hits = self.kb.search(self.query_text, limit=RESULT_LIMIT) if self.query_text else []
        self.pattern = self.kb.highlight_pattern(self.query_text) if self.query_text else None
        results = self.query_one("#knowledge-results", OptionList)
        results.clear_options()
        results.add_options(Option(_result_prompt(hit), id=str(i))
                            for i, hit in enumerate(self.hits))
        searching = bool(self.query_text)
        results.display = searching
        self.query_one("#knowledge-toc").display = not searching
        documents = len({hit.section.document for hit in self.hits})
        self.query_one("#knowledge-pane-title", Static).update(
            Content(f"{len(self.hits)} sections in {documents} documents" if searching
                    else "Contents"))

    def _highlight(self) -> None:
        """Mark every match of the current query in the rendered document."""
        if self._highlighted_with is self.pattern:
            return
        for widget, original in self._originals.items():
            widget.update(original)
            widget.remove_class("-current-hit")
        self._originals.clear()
        self.hit_widgets, self.hit_index = [], -1
        self._highlighted_with = self.pattern
        if self.pattern is None:
            return
        for widget in self.markdown.query(Static):
            content = widget.content
            if isinstance(content, Content) and self.pattern.search(content.plain):
                self._originals[widget] = content
                widget.update(content.highlight_regex(self.pattern, style=HIT_STYLE))
                self.hit_widgets.append(widget)

    def _top_index(self, widget: Widget) -> int:
        """Position among the document's top-level blocks of the block holding `widget`."""
        children = list(self.markdown.children)
        node: Widget | None = widget
        while node is not None and node.parent is not self.markdown:
            node = node.parent  # type: ignore[assignment]
        return children.index(node) if node is not None else -1

    def _first_hit_in(self, location: Location) -> Widget | None:
        """The first highlighted block inside the section `location` names (its own text,
        up to the next heading)."""
        heading = self._heading_widget(location.section)
        if heading is None or not self.hit_widgets:
            return None
        children = list(self.markdown.children)
        start = children.index(heading)
        headings = [i for i, child in enumerate(children)
                    if i > start and child.id in self._page_ids]
        end = headings[0] if headings else len(children)
        for index, widget in enumerate(self.hit_widgets):
            if start <= self._top_index(widget) < end:
                self._mark_current(index)
                return widget
        return None

    def _mark_current(self, index: int) -> None:
        for widget in self.hit_widgets:
            widget.remove_class("-current-hit")
        self.hit_index = index
        self.hit_widgets[index].add_class("-current-hit")

    # -- events ---------------------------------------------------------------------------

    @on(Input.Changed, "#knowledge-search")
    def _query_changed(self, event: Input.Changed) -> None:
        self._search(event.value)

    @on(Input.Submitted, "#knowledge-search")
    async def _query_submitted(self, event: Input.Submitted) -> None:
        self._search(event.value)
        if self.hits:
            await self.open_hit(self.hits[0])
            self.query_one("#knowledge-results", OptionList).highlighted = 0
            self.query_one("#knowledge-view").focus()
        elif self.query_text:
            self.notify(f'No section matches "{self.query_text}".', severity="warning")

    @on(OptionList.OptionSelected, "#knowledge-results")
    async def _result_selected(self, event: OptionList.OptionSelected) -> None:
        await self.open_hit(self.hits[int(event.option.id)])

    @on(OptionList.OptionSelected, "#knowledge-documents")
    async def _document_selected(self, event: OptionList.OptionSelected) -> None:
        await self.navigate(event.option.id)

    @on(OptionList.OptionSelected, "#knowledge-toc")
    async def _contents_selected(self, event: OptionList.OptionSelected) -> None:
        await self.navigate(f"{self.current_document}#{event.option.id}")

    @on(Markdown.LinkClicked)
    async def _link_clicked(self, event: Markdown.LinkClicked) -> None:
        event.stop()
        if _EXTERNAL.match(event.href):
            self.notify(event.href, title="External link (copy it to a browser)", timeout=10)
            return
        await self.navigate(event.href)

    # -- actions --------------------------------------------------------------------------

    async def action_back_or_clear(self) -> None:
        search = self.query_one("#knowledge-search", Input)
        if search.value:
            search.value = ""
            self._search("")
            self._highlight()
            self.query_one("#knowledge-view").focus()
            return
        self.app.pop_screen()

    def action_focus_search(self) -> None:
        self.query_one("#knowledge-search", Input).focus()

    def action_focus_contents(self) -> None:
        pane = "#knowledge-results" if self.query_text else "#knowledge-toc"
        self.query_one(pane).focus()

    async def action_history_back(self) -> None:
        if self.history_index > 0:
            self.history_index -= 1
            await self.navigate(self.history[self.history_index], record=False)

    async def action_history_forward(self) -> None:
        if self.history_index < len(self.history) - 1:
            self.history_index += 1
            await self.navigate(self.history[self.history_index], record=False)

    async def action_turn_page(self, step: int) -> None:
        if self.current_document is None or not self.page:
            return
        pages = self.kb.document(self.current_document).pages
        index = pages.index(self.page) + step
        if 0 <= index < len(pages):
            await self.navigate(f"{self.current_document}#{pages[index][0].slug}")

    def action_next_hit(self, step: int = 1) -> None:
        if not self.hit_widgets:
            self.notify("No hits in this document: search first (/).", severity="warning")
            return
        self._mark_current((self.hit_index + step) % len(self.hit_widgets))
        self.query_one("#knowledge-view", VerticalScroll).scroll_to_widget(
            self.hit_widgets[self.hit_index], top=True, animate=False)


def _result_prompt(hit: SearchHit) -> Content:
    """Where the section is, then a short excerpt around its first hit, hits highlighted."""
    title = Content.from_markup("[b]$title[/b]  [dim]$doc[/dim]", title=hit.section.title,
                                doc=hit.section.document)
    first = hit.spans[0][0] if hit.spans else 0
    start = max(0, first - RESULT_CONTEXT // 3)
    end = min(len(hit.snippet), start + RESULT_CONTEXT)
    snippet = Content(hit.snippet)
    for span_start, span_end in hit.spans:
        snippet = snippet.stylize(HIT_STYLE, span_start, span_end)
    excerpt = Content.assemble("…" if start else "", snippet[start:end],
                               "…" if end < len(hit.snippet) else "")
    return Content("\n").join([title, excerpt])
