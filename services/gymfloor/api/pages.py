"""Pages of reports written out as they were stored."""

from __future__ import annotations

import json

from fastapi import Response

from gymfloor.storage.pagination import Page


def stored_json_page(page: Page[str]) -> Response:
    """The page as `Page[RepReport]` would serialize it, from the stored JSON of each report:
    parsing, validating and serializing fifty reports again cost a list about a quarter of its
    CPU time (docs/PERFORMANCE.md)."""
    items, cursor = ",".join(page.items), json.dumps(page.next_cursor)
    return Response(f'{{"items":[{items}],"next_cursor":{cursor}}}', media_type="application/json")
