"""A local stand-in for Zendesk, Typeform and Stripe that serves a sample world from disk.

The loaders are written against the vendors' real paths, auth, envelopes and pagination, so
the sandbox speaks them too: pointing a loader at production is then only a change of base URL
and credentials. Faults (429 with Retry-After, 5xx, 404, pages that are not JSON or are HTML,
revoked credentials, a cursor that loops, an export that never ends) can be injected so tests
exercise the loaders' retry and error paths without a network.

Deliberate simplifications: ordering ties are broken by position in the file; a JSONL line
that is not JSON is served as a JSON string, so loaders see (and set aside) a non-object item.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

VENDORS = ("zendesk", "typeform", "stripe")
ZENDESK_LISTS = ("ticket_metrics", "satisfaction_ratings", "organizations")
ZENDESK_PAGE_MAX = 100  # cursor pagination page[size]
ZENDESK_INCREMENTAL_MAX = 1000  # incremental export per_page
TYPEFORM_PAGE_MAX = 1000
TYPEFORM_PAGE_DEFAULT = 25
STRIPE_LIMIT_MAX = 100
STRIPE_LIMIT_DEFAULT = 10

# Used when DIR/world.json has no `sandbox` object, so a hand-made fixture folder still works.
DEFAULT_CREDENTIALS: dict[str, dict[str, str]] = {
    "zendesk": {"email": "sandbox@example.com", "api_token": "sandbox-zendesk-token"},
    "typeform": {"access_token": "tfp_sandbox_token", "form_id": "sandboxform"},
    "stripe": {"api_key": "sk_test_sandbox"},
}

Reply = tuple[int, Any, dict[str, str]]
PAGING_FAULTS = ("loop", "endless")


@dataclass(frozen=True)
class RawBody:
    """A reply body sent as it is (not JSON-encoded): an HTML error page, truncated JSON."""

    text: str
    content_type: str = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Fault:
    """One injected reply; status 0 serves the request normally (to fault a later page)."""

    status: int
    retry_after: int = 1
    path_contains: str = ""
    body: RawBody | None = None


SortKey = list[Any]


def parse_time(value: Any) -> float | None:
    """Unix seconds from an ISO-8601 string or a number; None when it cannot be read."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _id_key(item: Any) -> list[Any]:
    """Sort ids numbers first, then strings, so mixed or missing ids never break sorting."""
    value = item.get("id") if isinstance(item, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [0, float(value), ""]
    return [1, 0.0, "" if value is None else str(value)]


def encode_cursor(key: SortKey) -> str:
    """Opaque cursor, like the vendors': the sort key of the record it points after."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> SortKey | None:
    """Return the sort key inside a cursor, or None when the cursor is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error):
        return None
    return key if isinstance(key, list) else None


class _FileCache:
    """Parsed files, re-read when their mtime or size changes so tests can edit between loads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Path, tuple[tuple[int, int], Any]] = {}

    def read(self, path: Path, parse: Callable[[str], Any], empty: Any) -> Any:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return empty
        signature = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            cached = self._entries.get(path)
            if cached and cached[0] == signature:
                return cached[1]
        value = parse(path.read_text(encoding="utf-8"))
        with self._lock:
            self._entries[path] = (signature, value)
        return value


def _parse_jsonl(text: str) -> list[Any]:
    items: list[Any] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError:
            items.append(line)  # served as a string: the loader must set it aside
    return items


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {}


class Sandbox:
    """Serve DIR as Zendesk, Typeform and Stripe on 127.0.0.1, in a background thread.

    Use as a context manager; `base_urls` holds each vendor's base URL once entered.
    """

    def __init__(self, data_dir: Path, page_size: int = 50, port: int = 0) -> None:
        self.data_dir = Path(data_dir)
        self.page_size = max(1, page_size)
        self.port = port
        self.base_urls: dict[str, str] = {}
        self.requests_log: list[tuple[str, str, int]] = []
        self._faults: dict[str, list[Fault]] = defaultdict(list)
        self._paging_faults: dict[str, str] = {}
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self._cache = _FileCache()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        sandbox = self

        class Handler(_Handler):
            owner = sandbox

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        root = f"http://127.0.0.1:{port}"
        self.base_urls = {vendor: f"{root}/{vendor}" for vendor in VENDORS}
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    # -- test hooks ------------------------------------------------------------------------

    def inject(
        self,
        vendor: str,
        *statuses: int,
        retry_after: int = 1,
        path_contains: str = "",
        body: RawBody | None = None,
    ) -> None:
        """Answer the next requests to `vendor` with these statuses, in order, before serving.

        `path_contains` limits the faults to requests whose path and query contain it (one
        resource of several); status 0 serves that request normally, so `0, 500, 500` faults
        the second page. `body` replaces the vendor's JSON error with raw text (an HTML page,
        or with status 200 a page that is not JSON).
        """
        self._check_vendor(vendor)
        with self._lock:
            self._faults[vendor].extend(
                Fault(status, retry_after, path_contains, body) for status in statuses
            )

    def fault_paging(self, vendor: str, mode: str) -> None:
        """Break `vendor`'s paging from now on, as a vendor incident or a buggy proxy does.

        `loop`: the cursor never advances; `endless`: Zendesk's export never says end_of_stream.
        """
        self._check_vendor(vendor)
        if mode not in PAGING_FAULTS:
            raise ValueError(f"unknown paging fault {mode!r}; expected one of {PAGING_FAULTS}")
        with self._lock:
            self._paging_faults[vendor] = mode

    def revoke(self, vendor: str) -> None:
        """Reject `vendor`'s credential from now on (401), as after a token is revoked."""
        self._check_vendor(vendor)
        with self._lock:
            self._revoked.add(vendor)

    @property
    def credentials(self) -> dict[str, dict[str, str]]:
        """The credentials the sandbox accepts: world.json's `sandbox` object, else defaults."""
        world = self._cache.read(self.data_dir / "world.json", _parse_json, {})
        configured = world.get("sandbox") if isinstance(world, dict) else None
        merged = {vendor: dict(values) for vendor, values in DEFAULT_CREDENTIALS.items()}
        if isinstance(configured, dict):
            for vendor, values in configured.items():
                if isinstance(values, dict) and vendor in merged:
                    merged[vendor].update({k: str(v) for k, v in values.items()})
        form = self._form()
        if isinstance(form.get("id"), str):
            merged["typeform"]["form_id"] = form["id"]
        return merged

    @staticmethod
    def _check_vendor(vendor: str) -> None:
        if vendor not in VENDORS:
            raise ValueError(f"unknown vendor {vendor!r}; expected one of {VENDORS}")

    def _next_fault(self, vendor: str, raw_path: str) -> Fault | None:
        with self._lock:
            queue = self._faults[vendor]
            for position, fault in enumerate(queue):
                if fault.path_contains in raw_path:
                    del queue[position]
                    return None if fault.status == 0 else fault
            return None

    def _paging_fault(self, vendor: str) -> str:
        with self._lock:
            return self._paging_faults.get(vendor, "")

    def _log(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests_log.append((method, path, status))

    # -- data ------------------------------------------------------------------------------

    def _records(self, *parts: str) -> list[Any]:
        records: list[Any] = self._cache.read(self.data_dir.joinpath(*parts), _parse_jsonl, [])
        return records

    def _form(self) -> dict[str, Any]:
        form = self._cache.read(self.data_dir / "typeform" / "form.json", _parse_json, {})
        return form if isinstance(form, dict) else {}

    # -- dispatch --------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, headers: Any) -> Reply:
        """Route one request: vendor prefix, injected fault, credential check, then the API."""
        split = urlsplit(raw_path)
        segments = split.path.split("/")
        vendor = segments[1] if len(segments) > 1 else ""
        path = "/" + "/".join(segments[2:])
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        if vendor not in VENDORS:
            return 404, {"error": "Not Found"}, {}
        fault = self._next_fault(vendor, raw_path)
        if fault is not None:
            if fault.body is not None:
                return fault.status, fault.body, {}
            return _fault_reply(vendor, fault.status, fault.retry_after)
        if method != "GET":
            return _not_found(vendor, method, path)
        denied = self._authenticate(vendor, headers.get("Authorization", ""))
        if denied is not None:
            return denied
        base = self.base_urls[vendor]
        if vendor == "zendesk":
            return self._zendesk(path, query, base)
        if vendor == "typeform":
            return self._typeform(path, query)
        return self._stripe(path, query)

    def _authenticate(self, vendor: str, header: str) -> Reply | None:
        creds = self.credentials[vendor]
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        basic = ""
        if scheme == "basic":
            try:
                basic = base64.b64decode(value.strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                basic = ""
        revoked = vendor in self._revoked
        if vendor == "zendesk":
            accepted_basic = f"{creds['email']}/token:{creds['api_token']}"
            bearer_ok = scheme == "bearer" and value.strip() in {
                creds.get("oauth_token", ""),
                creds["api_token"],
            }
            if not revoked and (bearer_ok or (scheme == "basic" and basic == accepted_basic)):
                return None
            return 401, {"error": "Couldn't authenticate you"}, {}
        if vendor == "typeform":
            if not revoked and scheme == "bearer" and value.strip() == creds["access_token"]:
                return None
            body = {
                "code": "AUTHENTICATION_FAILED",
                "description": "Authentication credentials not found on the Request Headers",
            }
            return 401, body, {}
        key = value.strip() if scheme == "bearer" else basic.partition(":")[0]
        if not revoked and key and key == creds["api_key"]:
            return None
        if not key:
            message = (
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_"
                "SECRET_KEY')."
            )
        else:
            message = f"Invalid API Key provided: {key[:8]}{'*' * 4}{key[-4:]}"
        headers = {"WWW-Authenticate": 'Basic realm="Stripe"'}
        return 401, {"error": {"message": message, "type": "invalid_request_error"}}, headers

    # -- Zendesk ---------------------------------------------------------------------------

    def _zendesk(self, path: str, query: dict[str, str], base: str) -> Reply:
        if path == "/api/v2/incremental/tickets/cursor.json":
            return self._zendesk_incremental(query, base)
        for resource in ZENDESK_LISTS:
            if path == f"/api/v2/{resource}.json":
                return self._zendesk_list(resource, query, base)
        return _not_found("zendesk", "GET", path)

    def _zendesk_incremental(self, query: dict[str, str], base: str) -> Reply:
        """Incremental cursor export: updated_at >= start_time, ordered by updated_at then id."""
        items = self._records("zendesk", "tickets.jsonl")
        keyed = sorted(
            (
                [
                    int(
                        parse_time(item.get("updated_at") if isinstance(item, dict) else None) or 0
                    ),
                    *_id_key(item),
                    index,
                ],
                item,
            )
            for index, item in enumerate(items)
        )
        size = min(_int(query.get("per_page"), ZENDESK_INCREMENTAL_MAX), ZENDESK_INCREMENTAL_MAX)
        size = max(1, min(size, self.page_size))
        if "cursor" in query:
            position = decode_cursor(query["cursor"])
            if position is None:
                return (
                    400,
                    {"error": "InvalidPaginationParameter", "description": "cursor is invalid"},
                    {},
                )
        elif "start_time" in query:
            start = _int(query["start_time"], -1)
            if start < 0:
                return (
                    400,
                    {
                        "error": "InvalidValue",
                        "description": "start_time must be a Unix epoch time",
                    },
                    {},
                )
            # After every record of second start-1 (id kinds are 0/1), before any of second start.
            position = [start - 1, 2, 0.0, "", 0]
        else:
            return 400, {"error": "InvalidValue", "description": "start_time is required"}, {}
        remaining = [(key, item) for key, item in keyed if key > position]
        page = remaining[:size]
        end = len(remaining) <= size
        after = encode_cursor(page[-1][0]) if page else encode_cursor(position)
        paging = self._paging_fault("zendesk")
        if paging == "loop":  # the cursor handed out never advances
            page, end = keyed[:size], False
            after = encode_cursor([-1, 0, 0.0, "", 0])
        elif paging == "endless" and end:  # new empty pages forever, never end_of_stream
            end = False
            after = encode_cursor([max(position[0], page[-1][0][0] if page else 0) + 1, 2])
        before = encode_cursor(position)
        url = f"{base}/api/v2/incremental/tickets/cursor.json"
        body = {
            "tickets": [item for _, item in page],
            "after_cursor": after,
            "after_url": f"{url}?{urlencode({'cursor': after, 'per_page': size})}",
            "before_cursor": before,
            "before_url": f"{url}?{urlencode({'cursor': before, 'per_page': size})}",
            "end_of_stream": end,
        }
        return 200, body, {}

    def _zendesk_list(self, resource: str, query: dict[str, str], base: str) -> Reply:
        """Cursor pagination (page[size], page[after]/page[before]); offset paging without it."""
        items = self._records("zendesk", f"{resource}.jsonl")
        keyed = sorted(([*_id_key(item), index], item) for index, item in enumerate(items))
        url = f"{base}/api/v2/{resource}.json"
        if not any(k.startswith("page[") for k in query):
            return self._zendesk_offset(resource, keyed, query, url)
        size = max(1, min(_int(query.get("page[size]"), ZENDESK_PAGE_MAX), ZENDESK_PAGE_MAX))
        size = min(size, self.page_size)
        if "page[after]" in query or "page[before]" in query:
            raw = query.get("page[after]") or query.get("page[before]") or ""
            position = decode_cursor(raw)
            if position is None:
                return (
                    400,
                    {
                        "error": "InvalidPaginationParameter",
                        "description": "page cursor is invalid",
                    },
                    {},
                )
        else:
            position = None
        if "page[before]" in query and position is not None:
            earlier = [(k, i) for k, i in keyed if k < position]
            page = earlier[-size:]
            has_more = len(earlier) > size
            first_index = len(earlier) - len(page)
        else:
            later = [(k, i) for k, i in keyed if position is None or k > position]
            page = later[:size]
            has_more = len(later) > size
            first_index = len(keyed) - len(later)
        after = encode_cursor(page[-1][0]) if page else None
        before = encode_cursor(page[0][0]) if page else None
        next_link = (
            f"{url}?{urlencode({'page[size]': size, 'page[after]': after})}"
            if has_more and after
            else None
        )
        prev_link = (
            f"{url}?{urlencode({'page[size]': size, 'page[before]': before})}"
            if first_index > 0 and before
            else None
        )
        body = {
            resource: [item for _, item in page],
            "meta": {"has_more": has_more, "after_cursor": after, "before_cursor": before},
            "links": {"next": next_link, "prev": prev_link},
        }
        return 200, body, {}

    def _zendesk_offset(
        self, resource: str, keyed: list[tuple[SortKey, Any]], query: dict[str, str], url: str
    ) -> Reply:
        per_page = max(1, min(_int(query.get("per_page"), 100), 100, self.page_size))
        page_number = max(1, _int(query.get("page"), 1))
        start = (page_number - 1) * per_page
        page = keyed[start : start + per_page]
        more = start + per_page < len(keyed)
        body = {
            resource: [item for _, item in page],
            "next_page": f"{url}?page={page_number + 1}&per_page={per_page}" if more else None,
            "previous_page": (
                f"{url}?page={page_number - 1}&per_page={per_page}" if page_number > 1 else None
            ),
            "count": len(keyed),
        }
        return 200, body, {}

    # -- Typeform --------------------------------------------------------------------------

    def _typeform(self, path: str, query: dict[str, str]) -> Reply:
        segments = [s for s in path.split("/") if s]
        if len(segments) not in (2, 3) or segments[0] != "forms":
            return _not_found("typeform", "GET", path)
        form_id = segments[1]
        if form_id != self.credentials["typeform"]["form_id"]:
            body = {
                "code": "FORM_NOT_FOUND",
                "description": f"Non existing form with uid {form_id}",
            }
            return 404, body, {}
        if len(segments) == 2:
            return 200, self._form() or {"id": form_id, "fields": []}, {}
        if segments[2] != "responses":
            return _not_found("typeform", "GET", path)
        return self._typeform_responses(query)

    def _typeform_responses(self, query: dict[str, str]) -> Reply:
        """Newest first; `since`/`until` inclusive, `before` a token (exclusive), as documented."""
        items = self._records("typeform", "responses.jsonl")
        keyed = sorted(
            (
                (
                    [
                        parse_time(item.get("submitted_at") if isinstance(item, dict) else None)
                        or 0.0,
                        index,
                    ],
                    item,
                )
                for index, item in enumerate(items)
            ),
            key=lambda pair: pair[0],
            reverse=True,
        )
        size = _int(query.get("page_size"), TYPEFORM_PAGE_DEFAULT)
        size = max(1, min(size, TYPEFORM_PAGE_MAX, self.page_size))
        bounds: dict[str, float] = {}
        for name in ("since", "until"):
            if query.get(name):
                parsed = parse_time(query[name])
                if parsed is None:
                    return 400, _typeform_invalid(name, query[name]), {}
                bounds[name] = parsed
        selected = [
            (key, item)
            for key, item in keyed
            if key[0] >= bounds.get("since", -math.inf) and key[0] <= bounds.get("until", math.inf)
        ]
        if query.get("before"):
            token = query["before"]
            anchor = next((k for k, i in keyed if _token(i) == token), None)
            if anchor is None:
                return 400, _typeform_invalid("before", token), {}
            selected = [(k, i) for k, i in selected if k < anchor]
        if self._paging_fault("typeform"):  # `before` ignored: the first page again and again
            selected = list(keyed)
        page = [item for _, item in selected[:size]]
        total = len(selected)
        return 200, {"total_items": total, "page_count": math.ceil(total / size), "items": page}, {}

    # -- Stripe ----------------------------------------------------------------------------

    def _stripe(self, path: str, query: dict[str, str]) -> Reply:
        """Newest `created` first; the cursor is an object id, located before filtering."""
        resources = {
            "/v1/subscriptions": "subscription",
            "/v1/customers": "customer",
            "/v1/subscription_items": "subscription_item",
        }
        if path not in resources:
            return _not_found("stripe", "GET", path)
        items = self._records("stripe", path.rsplit("/", 1)[1] + ".jsonl")
        ordered = [
            item
            for _, item in sorted(
                enumerate(items),
                key=lambda pair: (-(parse_time(_get(pair[1], "created")) or 0.0), pair[0]),
            )
        ]
        limit = _int(query.get("limit"), STRIPE_LIMIT_DEFAULT)
        if limit < 1 or limit > STRIPE_LIMIT_MAX:
            return 400, _stripe_invalid("limit", "This value must be between 1 and 100."), {}
        size = min(limit, self.page_size)
        ids = [_get(item, "id") for item in ordered]
        forward = True
        if query.get("starting_after") or query.get("ending_before"):
            param = "starting_after" if query.get("starting_after") else "ending_before"
            anchor = query[param]
            if anchor not in ids:
                return 400, _stripe_missing(resources[path], anchor, param), {}
            position = ids.index(anchor)
            forward = param == "starting_after"
            ordered = ordered[position + 1 :] if forward else ordered[:position]
        status = query.get("status", "")
        customer = query.get("customer")
        subscription = query.get("subscription")
        if path == "/v1/subscription_items" and not subscription:
            return 400, _stripe_invalid("subscription", "Missing required param: subscription."), {}
        window = [
            item
            for item in ordered
            if (path != "/v1/subscriptions" or _stripe_status_matches(item, status))
            and (not customer or _get(item, "customer") == customer)
            and (not subscription or _get(item, "subscription") == subscription)
        ]
        page = window[:size] if forward else window[-size:]
        has_more = len(window) > size
        if self._paging_fault("stripe"):  # every page is the first page again
            page, has_more = self._records("stripe", path.rsplit("/", 1)[1] + ".jsonl")[:size], True
        return 200, {"object": "list", "url": path, "has_more": has_more, "data": page}, {}


class _Handler(BaseHTTPRequestHandler):
    """Thin HTTP adapter; all behaviour lives in `Sandbox.handle` so it is easy to follow."""

    owner: Sandbox
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        try:
            status, body, headers = self.owner.handle(method, self.path, self.headers)
        except Exception as exc:  # a sandbox bug must surface as a 500, not a hung client
            status, body, headers = 500, {"error": f"sandbox error: {exc!r}"}, {}
        content_type = "application/json; charset=utf-8"
        if isinstance(body, RawBody):
            payload, content_type = body.text.encode(), body.content_type
        else:
            payload = json.dumps(body).encode()
        # Logged before replying, so a test that has its answer also sees the log entry.
        self.owner._log(method, self.path, status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence per-request logging; tests read `requests_log` instead."""


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else None


def _int(value: str | None, default: int) -> int:
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        return default


def _token(item: Any) -> Any:
    if not isinstance(item, dict):
        return None
    return item.get("token") or item.get("response_id")


def _stripe_status_matches(item: Any, status: str) -> bool:
    """Stripe's filter: no status = everything not canceled; `ended` = canceled or expired."""
    if not isinstance(item, dict):
        return True
    actual = item.get("status")
    if status == "all":
        return True
    if status == "":
        return actual != "canceled"
    if status == "ended":
        return actual in ("canceled", "incomplete_expired")
    return bool(actual == status)


def _fault_reply(vendor: str, status: int, retry_after: int) -> Reply:
    headers = {"Retry-After": str(retry_after)} if status == 429 else {}
    if vendor == "stripe":
        kind = "rate_limit_error" if status == 429 else "api_error"
        return status, {"error": {"message": f"Injected HTTP {status}", "type": kind}}, headers
    if vendor == "typeform":
        code = "TOO_MANY_REQUESTS" if status == 429 else "INTERNAL_ERROR"
        return status, {"code": code, "description": f"Injected HTTP {status}"}, headers
    error = "TooManyRequests" if status == 429 else "InternalError"
    return status, {"error": error, "description": f"Injected HTTP {status}"}, headers


def _not_found(vendor: str, method: str, path: str) -> Reply:
    if vendor == "stripe":
        message = f"Unrecognized request URL ({method}: {path})."
        return 404, {"error": {"message": message, "type": "invalid_request_error"}}, {}
    if vendor == "typeform":
        return 404, {"code": "NOT_FOUND", "description": f"Endpoint {path} not found"}, {}
    return 404, {"error": "InvalidEndpoint", "description": "Not found"}, {}


def _typeform_invalid(name: str, value: str) -> dict[str, Any]:
    return {
        "code": "VALIDATION_ERROR",
        "description": f"Invalid value for parameter {name}: {value}",
    }


def _stripe_invalid(param: str, message: str) -> dict[str, Any]:
    return {"error": {"message": message, "param": param, "type": "invalid_request_error"}}


def _stripe_missing(kind: str, anchor: str, param: str) -> dict[str, Any]:
    return {
        "error": {
            "code": "resource_missing",
            "message": f"No such {kind}: '{anchor}'",
            "param": param,
            "type": "invalid_request_error",
        }
    }


def serve_forever(data_dir: Path, port: int, page_size: int) -> None:
    """Serve DIR until Ctrl-C, for pointing a loader or a person's curl at the sample world."""
    with Sandbox(data_dir, page_size=page_size, port=port) as sandbox:
        for vendor, url in sandbox.base_urls.items():
            print(f"{vendor:9} {url}", flush=True)
        print("credentials:", json.dumps(sandbox.credentials), flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print("stopped")
