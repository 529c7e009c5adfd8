"""`nt-tui knowledge`: search, list and print the knowledge documents in the terminal.

    nt-tui knowledge search warmup            matching sections, best first, hits marked
    nt-tui knowledge show optimizer-guide.md#warmup
    nt-tui knowledge list                     documents and their sections (deep links)
    nt-tui knowledge open [LINK]              the browser in the app, at LINK
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from pathlib import Path

HELP = "Search and read the knowledge documents (scaling, optimizers, failures, fine-tuning)."
#: ANSI for hits on a colour terminal: bold + reverse video.
HIT_ON, HIT_OFF = "\x1b[1;7m", "\x1b[0m"
WIDTH = 92


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=None,
                        help="a folder of Markdown documents instead of the shipped ones")
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    search = actions.add_parser("search", help="sections matching a query, best first")
    search.add_argument("query", nargs="+", help='words; "quoted phrases" must match as written')
    search.add_argument("--limit", type=int, default=10, help="most sections shown (10)")
    search.add_argument("--json", action="store_true", help="one JSON object on stdout")
    show = actions.add_parser("show", help="print a document or a section")
    show.add_argument("link", help="doc.md or doc.md#section-slug")
    actions.add_parser("list", help="documents and their sections, with deep links")
    opener = actions.add_parser("open", help="open the knowledge browser in the app")
    opener.add_argument("link", nargs="?", help="doc.md#section-slug to open at")
    opener.add_argument("--query", help="search this on opening")


def run(args: argparse.Namespace) -> int:
    from nt_tui.knowledge import load_knowledge

    kb = load_knowledge(args.dir)
    action = args.action or "list"
    if action == "search":
        return _search(kb, " ".join(args.query), args.limit, args.json)
    if action == "show":
        return _show(kb, args.link)
    if action == "open":
        from nt_tui.tui.app import run_app

        if args.link:
            kb.resolve(args.link)  # a bad link fails here, with a hint, not in the app
        return run_app(area="knowledge", link=args.link, query=args.query)
    for document in kb.documents:
        print(f"{document.name}  {document.title}")
        for section in document.sections[1:]:
            print(f"  {'  ' * (section.level - 2)}{section.link}  {section.title}")
    return 0


def _marks() -> tuple[str, str]:
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        return HIT_ON, HIT_OFF
    return "[", "]"


def _search(kb, query: str, limit: int, as_json: bool) -> int:
    from nt_tui.errors import NtTuiError

    if limit < 1:
        raise NtTuiError(f"--limit must be at least 1, got {limit}", hint="e.g. --limit 10")
    hits = kb.search(query, limit=limit)
    if as_json:
        print(json.dumps({"query": query, "hits": [h.to_dict() for h in hits]}, indent=2))
        return 0
    if not hits:
        print(f'No section matches "{query}". Try fewer or other words; '
              "nt-tui knowledge list shows every section.")
        return 1
    before, after = _marks()
    print(f'{len(hits)} section(s) match "{query}", best first:\n')
    for hit in hits:
        print(f"{hit.link}  ({hit.section.breadcrumb})")
        snippet = textwrap.fill(hit.marked_snippet(before, after), WIDTH,
                                initial_indent="    ", subsequent_indent="    ")
        print(snippet + "\n")
    print("Open one in the app: nt-tui knowledge open LINK")
    return 0


def _show(kb, link: str) -> int:
    location = kb.resolve(link)
    if location.section is None:
        print(location.document.text)
        return 0
    section = location.section
    print(f"{'#' * section.level} {section.title}\n{section.markdown.rstrip()}")
    return 0
