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
