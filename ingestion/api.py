"""Vendor APIs through dlt's RESTClient, plus what dlt does not know about our vendors.

dlt gives the HTTP: `RESTClient.paginate` walks the pages with a paginator per list, and its
retrying `Client` rides out 429 (`Retry-After`, capped), 5xx, 404/408/409, connection errors
and pages that are not the documented JSON, with exponential backoff and bounded attempts.
Ours on top: a response hook that turns 401/403 into an error naming the setting to fix (never
retried), per-record rejects located by page URL, the page budget and repeated-cursor guard,
and FetchProblems (pages fetched before a failure are committed, then the run fails).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import dlt
import requests
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client import RESTClient
from dlt.sources.helpers.rest_client.auth import AuthConfigBase
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from dlt.sources.helpers.rest_client.utils import join_url
from requests.exceptions import ChunkedEncodingError

from ingestion.pipeline import run_counted
from ingestion.rejects import split_page

logger = logging.getLogger(__name__)


class CredentialRejectedError(RuntimeError):
    """The vendor refused the credential (401/403): retrying cannot help, a person must act."""


class VendorApiError(RuntimeError):
    """The vendor kept failing (5xx, 429, connection) after the bounded retries."""


class PagingError(VendorApiError):
    """The vendor's paging cannot be trusted (a cursor that repeats, a stream with no end).

    Raised instead of stopping quietly: a load that ended there would report success on
    partial data.
    """


class PageProblem(requests.HTTPError):
    """A page worth asking for again: 429, 5xx, 404/408/409, or a 2xx not documented JSON.

    dlt's retry sees an HTTPError and retries it; after the last attempt
    `VendorApi.records` turns it into a VendorApiError naming the page.
    """


HTTP_MAX_ATTEMPTS = 5


# Read when a source builds its client, so tests can make it tiny.
HTTP_BACKOFF_SECONDS = 0.5


HTTP_MAX_WAIT_SECONDS = 60.0


HTTP_TIMEOUT_SECONDS = 60.0


# Statuses that a healthy endpoint can answer for a moment (a proxy's 404 during a deploy, a
# request timeout): retried like 5xx. Other 4xx are our request's fault and fail at once.
HTTP_RETRIED_CLIENT_STATUSES = frozenset({404, 408, 409})
HTTP_RETRIED_STATUSES = (429, *sorted(HTTP_RETRIED_CLIENT_STATUSES), *range(500, 600))


# A source reads at most this many pages per resource and run unless `max_pages` says otherwise:
# a stream that never ends must stop with an error, not page forever holding the pool slot.
DEFAULT_MAX_PAGES = 10_000


def vendor_session() -> requests.Session:
    """Return dlt's retrying session with our limits (module constants, read at call time)."""
    return Client(
        request_timeout=HTTP_TIMEOUT_SECONDS,
        raise_for_status=False,
        status_codes=HTTP_RETRIED_STATUSES,
        retry_condition=lambda _response, error: isinstance(error, PageProblem),
        request_max_attempts=HTTP_MAX_ATTEMPTS,
        request_backoff_factor=HTTP_BACKOFF_SECONDS,
        request_max_retry_delay=HTTP_MAX_WAIT_SECONDS,
        respect_retry_after_header=True,
    ).session


class JsonPage(requests.Response):
    """A 2xx page parsed once with the standard `json` module.

    requests parses with simplejson when installed, which refuses NaN; a NaN in one record
    must set that record aside, not fail the page. dlt's data selector and paginators read
    this body through `.json()`.
    """

    def __init__(self, response: requests.Response, body: dict[str, Any]) -> None:
        super().__init__()
        self.__dict__.update(response.__dict__)
        self.body = body

    def json(self, **kwargs: Any) -> Any:
        """The body parsed by the hook."""
        return self.body


def check_response(
    response: requests.Response, *, source: str, credential_hint: str, records_key: str
) -> requests.Response | None:
    """Response hook: fail on a refused credential, flag pages to retry, parse good pages.

    Runs inside dlt's retry on every attempt. 401/403 raise CredentialRejectedError naming
    the setting (not retried); other 4xx raise VendorApiError (our request is wrong);
    retried statuses and 2xx pages that are not a JSON object holding a list under
    `records_key` (null or absent counts as empty) raise PageProblem.
    """
    status = response.status_code
    if response.is_redirect:
        return None  # requests follows it; the hook sees the final page too
    if status in (401, 403):
        raise CredentialRejectedError(
            f"{source}: the API rejected the credential (HTTP {status} for "
            f"{response.url}): {response.text[:300]}. Check {credential_hint}; "
            "not retried, a new credential is needed."
        )
    if status == 429:
        after = response.headers.get("Retry-After") or "not given"
        raise PageProblem(f"rate limited (HTTP 429, Retry-After {after})", response=response)
    if status >= 500 or status in HTTP_RETRIED_CLIENT_STATUSES:
        raise PageProblem(f"HTTP {status}: {response.text[:300]}", response=response)
    if status >= 400:
        raise VendorApiError(
            f"{source}: HTTP {status} for {response.url}: {response.text[:500]}. "
            "Check the source's base_url and settings."
        )
    try:
        body = json.loads(response.content)
    except ValueError:
        content_type = response.headers.get("Content-Type") or "no content type"
        raise PageProblem(
            f"HTTP {status} but not JSON ({content_type}): {response.text[:200]!r}",
            response=response,
        ) from None
    if not isinstance(body, dict):
        problem = f"the body is a JSON {type(body).__name__}, not an object"
        raise PageProblem(problem, response=response)
    records = body.get(records_key)
    if records is not None and not isinstance(records, list):
        problem = f"`{records_key}` is {type(records).__name__}, not a list of records"
        raise PageProblem(f"not the documented page: {problem}", response=response)
    return JsonPage(response, body)


def repeated_cursor(source: str, resource: str, cursor: str, url: str) -> PagingError:
    """The error for a vendor cursor that points back to a page already read."""
    return PagingError(
        f"{source}.{resource}: the vendor returned a cursor it had already given ({cursor!r}, "
        f"after page {url}); the stream would loop, so the load stops instead of ending on "
        "partial data. Rerun later; if it persists, report it to the vendor."
    )


class PagingGuard:
    """Our checks on a paginator's next cursor: not seen before, and within the page budget.

    A paginator asks `allows` before following a cursor. A refusal ends the paging and keeps
    the error, which `VendorApi.records` raises after the page that revealed it has loaded.
    """

    def __init__(self, source: str, resource: str, max_pages: int) -> None:
        self.source = source
        self.resource = resource
        self.max_pages = max_pages
        self.pages = 0
        self.seen: set[str] = set()
        self.problem: PagingError | None = None

    def allows(self, cursor: str | None, url: str, *, missing: str = "<no cursor>") -> bool:
        """Count the page at `url`; True when its next `cursor` may be followed."""
        self.pages += 1
        if cursor is None:
            self.problem = repeated_cursor(self.source, self.resource, missing, url)
        elif cursor in self.seen:
            self.problem = repeated_cursor(self.source, self.resource, cursor, url)
        elif self.pages >= self.max_pages:
            self.problem = PagingError(
                f"{self.source}.{self.resource}: read {self.pages} pages without reaching the "
                f"end of the stream (last page {url}); stopping. Raise "
                f"SOURCES__{self.source.upper()}__MAX_PAGES if the data really is that large, "
                "or report the endless stream to the vendor."
            )
        self.seen.add(str(cursor))
        return self.problem is None


PaginatorFactory = Callable[[PagingGuard], BasePaginator]


class VendorApi:
    """One vendor's API: a RESTClient over dlt's retrying session, with our checks added."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        auth: AuthConfigBase,
        credential_hint: str,
        max_pages: int,
        session: requests.Session | None = None,
    ) -> None:
        self.source = source
        self.credential_hint = credential_hint
        self.max_pages = max_pages
        self.client = RESTClient(
            base_url,
            headers={"Accept": "application/json"},
            auth=auth,
            session=session or vendor_session(),
        )

    def records(
        self,
        resource: str,
        path: str,
        *,
        params: dict[str, Any],
        records_key: str,
        paginator: PaginatorFactory,
        clean: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> Iterator[Any]:
        """Yield the cleaned records of every page; bad ones go to rejected_records.

        Each resource gets its own paginator (from `paginator`): a shared one would carry
        one list's cursor into another. A page that stays bad after the retries raises
        VendorApiError naming it; a paging problem raises after its page has loaded.
        """
        guard = PagingGuard(self.source, resource, self.max_pages)

        def hook(response: requests.Response, *args: Any, **kwargs: Any) -> Any:
            return check_response(
                response,
                source=self.source,
                credential_hint=self.credential_hint,
                records_key=records_key,
            )

        pages = self.client.paginate(
            path,
            params=dict(params),
            paginator=paginator(guard),
            data_selector=records_key,
            hooks={"response": [hook]},
        )
        counts: dict[str, int] = {}
        asking = requests.Request("GET", join_url(self.client.base_url, path), params=params)
        try:
            for page in pages:
                asking = page.request  # paginate moves it on to the next page
                yield from split_page(
                    list(page),
                    source=self.source,
                    location=str(page.response.url),
                    clean=clean,
                    counts=counts,
                )
        except PageProblem as exc:
            url = exc.response.url if exc.response is not None else _url_of(asking)
            raise self._gave_up(url, str(exc)) from exc
        except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as exc:
            url = exc.request.url if exc.request is not None else _url_of(asking)
            raise self._gave_up(url, f"connection error: {exc}") from exc
        if guard.problem is not None:
            raise guard.problem
        rejected = counts.get("rejected", 0)
        (logger.warning if rejected else logger.info)(
            "%s.%s: %d loaded, %d set aside",
            self.source,
            resource,
            counts.get("loaded", 0),
            rejected,
        )

    def _gave_up(self, url: Any, problem: str) -> VendorApiError:
        return VendorApiError(
            f"{self.source}: gave up on page {url} after {HTTP_MAX_ATTEMPTS} tries: {problem}"
        )


def _url_of(request: requests.Request) -> str:
    """The full URL a request asks for (base, path and query), to name a page in errors."""
    return str(requests.Request("GET", request.url, params=request.params).prepare().url)


class FetchProblems:
    """Errors that stopped a resource's paging; raised once the pages fetched are committed.

    A resource whose stream breaks mid-way (a bad page after retries, a repeating cursor)
    yields what it already fetched and records the error here; the load then commits those
    rows (and the cursor they reached), and `raise_if_any` fails the run, naming every page.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.messages: list[str] = []

    def add(self, error: Exception) -> None:
        """Record why a resource stopped."""
        self.messages.append(str(error))

    def raise_if_any(self) -> None:
        """Fail the load when any resource stopped early; the fetched pages are already kept."""
        if self.messages:
            raise VendorApiError(
                f"{self.source}: the load kept every page fetched before the failure, but is "
                "incomplete: " + " | ".join(self.messages)
            )


def vendor_error_in(error: BaseException) -> VendorApiError | CredentialRejectedError | None:
    """The vendor error inside dlt's wrapped exception chain (PipelineStepFailed...), if any."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, VendorApiError | CredentialRejectedError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def run_api_load(
    pipeline: dlt.Pipeline, source: Any, row_counts: dict[str, int] | None, problems: FetchProblems
) -> Any:
    """Run an API source's load; surface the vendor's error itself, not dlt's wrapper.

    A credential or vendor failure raised inside a resource reaches the caller as that error
    (so Dagster can tell a rejected credential from a transient fault); a resource that
    stopped early fails the run after the pages it fetched are committed.
    """
    try:
        info = run_counted(pipeline, source, row_counts)
    except Exception as exc:
        vendor_error = vendor_error_in(exc)
        if vendor_error is None:
            raise
        raise vendor_error from exc
    problems.raise_if_any()
    return info


def guarded_pages(pages: Iterator[Any], problems: FetchProblems | None) -> Iterator[Any]:
    """Yield a resource's records; a vendor error after retries is recorded, not raised.

    Credential errors still raise at once: nothing fetched with a refused key can follow.
    Without `problems` (a source built outside `load`) every error raises.
    """
    if problems is None:
        yield from pages
        return
    try:
        yield from pages
    except CredentialRejectedError:
        raise
    except VendorApiError as exc:
        problems.add(exc)
