"""The vendor sandbox speaks each vendor's paging and auth, so loaders tested on it are real."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from demo.sandbox import Sandbox
from tests.toolkit.sandbox import CREDS

pytestmark = pytest.mark.slow


def zendesk_auth() -> tuple[str, str]:
    return (f"{CREDS['zendesk']['email']}/token", CREDS["zendesk"]["api_token"])


def bearer(vendor: str) -> dict[str, str]:
    token = CREDS[vendor].get("access_token") or CREDS[vendor].get("api_key")
    return {"Authorization": f"Bearer {token}"}


def test_zendesk_incremental_pages_every_ticket_once_in_order(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_urls['zendesk']}/api/v2/incremental/tickets/cursor.json"
    body = requests.get(url, params={"start_time": 0}, auth=zendesk_auth()).json()
    seen, pages = [], 0
    while True:
        pages += 1
        assert len(body["tickets"]) <= 2
        seen += [t["id"] for t in body["tickets"]]
        assert {"after_cursor", "after_url", "before_cursor", "before_url"} <= set(body)
        if body["end_of_stream"]:
            break
        body = requests.get(body["after_url"], auth=zendesk_auth()).json()
    assert seen == [3, 1, 2, 5, 4.0]  # updated_at, then id; the deleted ticket is included
    assert pages == 3

    march = 1709287200  # 2024-03-01T10:00:00Z, inclusive
    later = requests.get(url, params={"start_time": march}, auth=zendesk_auth()).json()
    assert [t["id"] for t in later["tickets"]] == [1, 2]


@pytest.mark.parametrize("resource", ["ticket_metrics", "satisfaction_ratings", "organizations"])
def test_zendesk_cursor_lists_follow_links_next(sandbox: Sandbox, resource: str) -> None:
    url: str | None = f"{sandbox.base_urls['zendesk']}/api/v2/{resource}.json?page[size]=100"
    seen: list[int] = []
    while url:
        body = requests.get(url, auth=zendesk_auth()).json()
        assert len(body[resource]) <= 2 and set(body["meta"]) >= {"has_more", "after_cursor"}
        seen += [r["id"] for r in body[resource]]
        url = body["links"]["next"] if body["meta"]["has_more"] else None
        assert url is None or url.startswith("http://127.0.0.1")
    expected = [json.loads(line)["id"] for line in _lines(sandbox, "zendesk", resource)]
    assert seen == sorted(expected)


def _lines(sandbox: Sandbox, vendor: str, name: str) -> list[str]:
    return (sandbox.data_dir / vendor / f"{name}.jsonl").read_text().splitlines()


def test_typeform_pages_newest_first_with_before_token(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_urls['typeform']}/forms/NPSFORM1/responses"
    params: dict[str, Any] = {"page_size": 1000}
    seen: list[str] = []
    while True:
        body = requests.get(url, params=params, headers=bearer("typeform")).json()
        if not body["items"]:
            break
        assert len(body["items"]) <= 2 and body["total_items"] >= len(body["items"])
        seen += [item["token"] for item in body["items"]]
        params["before"] = body["items"][-1]["token"]
    assert seen == ["r5", "r4", "r3", "r2", "r1"]

    since = requests.get(
        url, params={"since": "2024-03-04T10:00:00"}, headers=bearer("typeform")
    ).json()
    assert [i["token"] for i in since["items"]] == ["r5", "r4"]  # since is inclusive
    missing = requests.get(
        f"{sandbox.base_urls['typeform']}/forms/NOPE/responses", headers=bearer("typeform")
    )
    assert missing.status_code == 404 and missing.json()["code"] == "FORM_NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("subscriptions", {"status": "all"}, ["sub_e", "sub_b", "sub_c", "sub_d", "sub_a"]),
        ("subscriptions", {}, ["sub_e", "sub_c", "sub_d", "sub_a"]),  # canceled left out
        ("customers", {}, ["cus_3", "cus_2", "cus_1"]),
    ],
)
def test_stripe_lists_page_with_starting_after(
    sandbox: Sandbox, path: str, params: dict[str, str], expected: list[str]
) -> None:
    url = f"{sandbox.base_urls['stripe']}/v1/{path}"
    query: dict[str, Any] = {**params, "limit": 100}
    seen: list[str] = []
    while True:
        body = requests.get(url, params=query, headers=bearer("stripe")).json()
        assert body["object"] == "list" and body["url"] == f"/v1/{path}"
        assert len(body["data"]) <= 2
        seen += [item["id"] for item in body["data"]]
        if not body["has_more"]:
            break
        query["starting_after"] = body["data"][-1]["id"]
    assert seen == expected
    too_big = requests.get(url, params={"limit": 101}, headers=bearer("stripe"))
    assert too_big.status_code == 400


def test_stripe_accepts_basic_auth_with_key_as_username(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_urls['stripe']}/v1/customers"
    assert requests.get(url, auth=(CREDS["stripe"]["api_key"], "")).status_code == 200


def test_bad_credentials_and_unknown_paths_are_refused(sandbox: Sandbox) -> None:
    zd = f"{sandbox.base_urls['zendesk']}/api/v2/organizations.json"
    wrong = requests.get(zd, auth=("agent@example.com/token", "nope"))
    assert wrong.status_code == 401 and wrong.json() == {"error": "Couldn't authenticate you"}
    assert requests.get(zd, headers={"Authorization": "Bearer zd-token"}).status_code == 200
    tf = requests.get(f"{sandbox.base_urls['typeform']}/forms/NPSFORM1/responses")
    assert tf.status_code == 401 and tf.json()["code"] == "AUTHENTICATION_FAILED"
    st = requests.get(
        f"{sandbox.base_urls['stripe']}/v1/customers", headers={"Authorization": "Bearer sk_x"}
    )
    assert st.status_code == 401 and st.json()["error"]["type"] == "invalid_request_error"
    unknown = requests.get(f"{sandbox.base_urls['stripe']}/v1/invoices", headers=bearer("stripe"))
    assert unknown.status_code == 404
    nope = f"{sandbox.base_urls['zendesk']}/api/v2/nope.json"
    assert requests.get(nope, auth=zendesk_auth()).status_code == 404

    sandbox.revoke("stripe")
    revoked = requests.get(f"{sandbox.base_urls['stripe']}/v1/customers", headers=bearer("stripe"))
    assert revoked.status_code == 401


def test_injected_faults_come_first_then_normal_service(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_urls['stripe']}/v1/customers"
    sandbox.inject("stripe", 429, 503, retry_after=7)
    first = requests.get(url, headers=bearer("stripe"))
    assert first.status_code == 429 and first.headers["Retry-After"] == "7"
    assert requests.get(url, headers=bearer("stripe")).status_code == 503
    assert requests.get(url, headers=bearer("stripe")).status_code == 200
    assert [status for _, _, status in sandbox.requests_log] == [429, 503, 200]


def test_files_are_reread_when_they_change(sandbox: Sandbox) -> None:
    url = f"{sandbox.base_urls['stripe']}/v1/customers"
    before = requests.get(url, params={"limit": 100}, headers=bearer("stripe")).json()
    path = sandbox.data_dir / "stripe" / "customers.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps({"id": "cus_9", "created": 1_690_000_000}) + "\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = requests.get(url, params={"limit": 100}, headers=bearer("stripe")).json()
    assert before["data"][0]["id"] == "cus_3" and after["data"][0]["id"] == "cus_9"


def test_missing_files_are_empty_collections(tmp_path: Path) -> None:
    with Sandbox(tmp_path, page_size=2) as box:
        basic = base64.b64encode(b"sandbox@example.com/token:sandbox-zendesk-token").decode()
        body = requests.get(
            f"{box.base_urls['zendesk']}/api/v2/incremental/tickets/cursor.json?start_time=0",
            headers={"Authorization": f"Basic {basic}"},
        ).json()
    assert body["tickets"] == [] and body["end_of_stream"] is True
