"""Command-palette providers (ctrl+p): the areas; other providers register beside this one."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from nt_tui.tui.areas import AREAS


class AreasProvider(Provider):
    """Open any area by name."""

    async def discover(self) -> Hits:
        for area in AREAS:
            yield DiscoveryHit(f"Open {area.title}", partial(self.app.open_area, area.id),
                               help=area.summary)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for area in AREAS:
            text = f"Open {area.title}"
            score = matcher.match(f"{text} {area.summary}")
            if score > 0:
                yield Hit(score, matcher.highlight(text), partial(self.app.open_area, area.id),
                          help=area.summary)


class KnowledgeProvider(Provider):
    """Knowledge documents and their sections (opened at the section), and the advisors."""

    kb = None

    async def startup(self) -> None:
        import asyncio

        from nt_tui.errors import NtTuiError
        from nt_tui.knowledge import load_knowledge

        try:
            self.kb = await asyncio.to_thread(load_knowledge)
        except NtTuiError:
            self.kb = None

    def _commands(self):
        """(text, help, callback, listed before typing?) for every advisor, document and
        section."""
        from nt_tui.advisors.base import ADVISORS

        for advisor in ADVISORS:
            yield (f"Ask the {advisor.title}", advisor.summary,
                   partial(self.app.open_area, "ask", advisor=advisor.id), True)
        for document in self.kb.documents if self.kb is not None else ():
            yield (f"Read {document.title}", document.name,
                   partial(self.app.open_knowledge, document.name), True)
            for section in document.sections[1:]:
                yield (f"{section.title} ({document.title})", section.link,
                       partial(self.app.open_knowledge, section.link), False)

    async def discover(self) -> Hits:
        for text, help_text, callback, listed in self._commands():
            if listed:
                yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, callback, _ in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)
