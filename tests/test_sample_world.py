"""The sample-world generator: deterministic, in the promised shapes, faults exactly as recorded."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from demo.__main__ import main
from demo.run import main as run_demo
from demo.run import world_ahead_of_clock
from demo.world import generate_world

END = date(2025, 6, 30)
SCALE = 0.05


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("world")
    manifest = generate_world(out, scale=SCALE, seed=7, end_date=END)
    return out, manifest


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _parse_ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.tzinfo is not None, value
    return parsed.astimezone(UTC)


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def event_lines(world: tuple[Path, dict[str, Any]]) -> list[tuple[str, int, str]]:
    out, _ = world
    lines = []
    for path in sorted((out / "events").rglob("*.jsonl.gz")):
        rel = path.relative_to(out).as_posix()
        with gzip.open(path, "rt") as fh:
            for n, line in enumerate(fh, start=1):
                lines.append((rel, n, line))
    return lines


def test_same_arguments_give_identical_bytes(
    world: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, manifest = world
    again = generate_world(tmp_path / "again", scale=SCALE, seed=7, end_date=END)
    assert again == manifest
    assert _files(out) == _files(tmp_path / "again")
    other = generate_world(tmp_path / "other", scale=SCALE, seed=8, end_date=END)
    assert other["counts"] != manifest["counts"] or _files(out) != _files(tmp_path / "other")


def test_regenerating_replaces_owned_folders(tmp_path: Path) -> None:
    stale = tmp_path / "events" / "1999" / "01" / "01" / "old.jsonl.gz"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"")
    generate_world(tmp_path, scale=0.02, seed=1, end_date=END)
    assert not stale.exists()


def test_manifest(world: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = world
    assert json.loads((out / "world.json").read_text()) == manifest
    assert manifest["seed"] == 7 and manifest["scale"] == SCALE
    assert manifest["end_date"] == "2025-06-30"
    assert manifest["start_date"] == (END - timedelta(days=89)).isoformat()
    assert manifest["sandbox"] == {
        "zendesk": {"email": "sandbox@example.com", "api_token": "sandbox-zendesk-token"},
        "typeform": {"access_token": "sandbox-typeform-token", "form_id": "NPS01"},
        "stripe": {"api_key": "sk_test_sandbox"},
    }
    counts = manifest["counts"]
    assert counts["accounts"] == 12 and counts["users"] == 75
    assert 0.8 * 150_000 * SCALE < counts["events"] < 1.2 * 150_000 * SCALE
    assert 0.8 * 2000 * SCALE < counts["zendesk_tickets"] <= 2000 * SCALE
    surveys = counts["typeform_responses"] + counts["survey_csv_rows"]
    assert 0.8 * 1500 * SCALE < surveys < 1.3 * 1500 * SCALE
    assert set(counts["accounts_by_plan"]) == {"free", "starter", "growth", "enterprise"}
    assert all(v > 0 for v in counts["accounts_by_plan"].values())


def test_events_parse_and_faults_are_exactly_the_planted_ones(
    world: tuple[Path, dict[str, Any]], event_lines: list[tuple[str, int, str]]
) -> None:
    _, manifest = world
    planted, where = manifest["planted"], manifest["planted_where"]
    malformed, no_id, bad_ts = [], [], []
    copies: dict[str, list[tuple[str, str]]] = defaultdict(list)
    by_type: Counter[str] = Counter()
    for rel, n, line in event_lines:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            malformed.append({"file": rel, "line": n})
            continue
        if "messageId" not in msg:
            no_id.append({"file": rel, "line": n})
            continue
        try:
            ts = _parse_ts(msg["timestamp"])
        except ValueError:
            bad_ts.append({"file": rel, "line": n})
            continue
        copies[msg["messageId"]].append((rel, line))
        if len(copies[msg["messageId"]]) > 1:
            continue
        by_type[msg["type"]] += 1
        assert msg.get("userId") or msg.get("anonymousId")
        received = _parse_ts(msg["receivedAt"])
        assert _parse_ts(msg["sentAt"]) >= ts and received >= ts
        assert rel.split("/")[1:4] == [f"{received:%Y}", f"{received:%m}", f"{received:%d}"]
        if msg["type"] == "track":
            assert msg["event"] and isinstance(msg["properties"], dict)
        elif msg["type"] == "page":
            assert msg["name"] in {"Home", "Reports", "Dashboards", "Settings", "Billing"}
        elif msg["type"] == "identify":
            assert set(msg["traits"]) == {"email", "name"}
            assert msg["traits"]["email"].endswith("@example.com")
        else:
            assert msg["type"] == "group" and msg["groupId"]
            assert set(msg["traits"]) == {"name", "plan", "industry", "employees"}
    assert malformed == [where["malformed_json_line"]] and planted["malformed_json_lines"] == 1
    assert (
        no_id == [where["event_without_message_id"]] and planted["events_without_message_id"] == 1
    )
    assert (
        bad_ts == [where["event_with_bad_timestamp"]] and planted["events_with_bad_timestamp"] == 1
    )
    assert dict(by_type) == manifest["counts"]["events_by_type"]
    assert sum(by_type.values()) == manifest["counts"]["events"]
    assert manifest["counts"]["event_lines"] == len(event_lines)

    repeated = {k: v for k, v in copies.items() if len(v) > 1}
    assert len(repeated) == planted["redelivered_events"] > 0
    for versions in repeated.values():
        assert len(versions) == 2
        (first_file, first_line), (second_file, second_line) = versions
        assert first_line == second_line and second_file > first_file


def test_late_events_sit_in_a_later_folder(
    world: tuple[Path, dict[str, Any]], event_lines: list[tuple[str, int, str]]
) -> None:
    _, manifest = world
    late = set()
    for rel, _, line in event_lines:
        try:
            msg = json.loads(line)
            ts = _parse_ts(msg["timestamp"])
        except (ValueError, KeyError):
            continue
        folder = date(*(int(x) for x in rel.split("/")[1:4]))
        assert folder >= ts.date()
        if _parse_ts(msg["receivedAt"]) - ts > timedelta(hours=20):
            assert folder > ts.date()
            late.add(msg["messageId"])
    assert len(late) == manifest["planted"]["late_events"] > 0


def _valid_messages(event_lines: list[tuple[str, int, str]]) -> list[dict[str, Any]]:
    out = []
    for _, _, line in event_lines:
        try:
            msg = json.loads(line)
            msg["_ts"] = _parse_ts(msg["timestamp"])
        except (ValueError, KeyError):
            continue
        if "messageId" in msg:
            out.append(msg)
    return out


def test_event_story(
    world: tuple[Path, dict[str, Any]], event_lines: list[tuple[str, int, str]]
) -> None:
    _, manifest = world
    messages = _valid_messages(event_lines)
    launch = date.fromisoformat(manifest["launches"]["ai_insights"])
    ai = [m for m in messages if m.get("event", "").startswith("AI Insight")]
    assert ai and min(m["_ts"].date() for m in ai) >= launch

    grouped_users = {m["userId"] for m in messages if m["type"] == "group" and m.get("userId")}
    behaviour = [m for m in messages if m["type"] in ("track", "page")]
    no_group = [m for m in behaviour if m.get("userId") and "groupId" not in m["context"]]
    assert 0.05 < len(no_group) / len(behaviour) < 0.15
    assert {m["userId"] for m in no_group} <= grouped_users
    anonymous = [m for m in behaviour if "userId" not in m]
    assert anonymous and any("groupId" in m["context"] for m in anonymous)
    assert any(not m["timestamp"].endswith("Z") for m in messages)
    weekday = Counter(m["_ts"].date() for m in behaviour if m["_ts"].weekday() < 5)
    weekend = Counter(m["_ts"].date() for m in behaviour if m["_ts"].weekday() >= 5)
    ratio = (sum(weekend.values()) / len(weekend)) / (sum(weekday.values()) / len(weekday))
    assert 0.15 < ratio < 0.5
    consultants = manifest["scenario"]["consultant_users"]
    for user, accounts in consultants.items():
        seen = {m["context"].get("groupId") for m in behaviour if m.get("userId") == user}
        assert seen <= set(accounts)


def test_zendesk(world: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = world
    orgs = _jsonl(out / "zendesk" / "organizations.jsonl")
    versions = _jsonl(out / "zendesk" / "tickets.jsonl")
    latest: dict[int, dict[str, Any]] = {}
    for t in versions:  # the export sends versions; the greatest updated_at, then the later, wins
        if t["id"] not in latest or t["updated_at"] >= latest[t["id"]]["updated_at"]:
            latest[t["id"]] = t
    tickets = list(latest.values())
    metrics = _jsonl(out / "zendesk" / "ticket_metrics.jsonl")
    ratings = _jsonl(out / "zendesk" / "satisfaction_ratings.jsonl")
    org_ids = {o["id"] for o in orgs}
    assert any(o["external_id"] is None for o in orgs)
    assert len(tickets) == len(metrics) == manifest["counts"]["zendesk_tickets"]
    planted = manifest["planted"]
    assert len(versions) == manifest["counts"]["zendesk_ticket_versions"]
    assert len(versions) - len(tickets) == planted["zendesk_earlier_ticket_versions"]
    assert planted["zendesk_text_id_tickets"] == sum(
        isinstance(t["organization_id"], str) for t in tickets
    )
    now = datetime(2025, 7, 1, tzinfo=UTC)
    statuses = Counter(t["status"] for t in tickets)
    assert statuses["deleted"] == manifest["planted"]["zendesk_deleted_tickets"] > 0
    assert set(statuses) <= {"new", "open", "pending", "hold", "solved", "closed", "deleted"}
    floats = 0
    for t in tickets:
        for key in ("id", "created_at", "updated_at", "status", "priority", "type", "subject",
                    "requester_id", "assignee_id", "organization_id", "via", "tags"):  # fmt: skip
            assert key in t
        assert t["via"]["channel"] in {"email", "web", "chat", "api", "voice"}
        assert t["priority"] in {"urgent", "high", "normal", "low", None}
        assert t["organization_id"] is None or int(t["organization_id"]) in org_ids
        assert _parse_ts(t["created_at"]) <= _parse_ts(t["updated_at"]) < now
        floats += isinstance(t["requester_id"], float)
    assert floats == manifest["planted"]["zendesk_float_id_tickets"]
    by_id = {t["id"]: t for t in tickets}
    tickets_with_orgs = {int(t["organization_id"] or 0) for t in tickets}
    assert org_ids - tickets_with_orgs, "some organizations have no tickets"
    for m in metrics:
        t = by_id[m["ticket_id"]]
        for key in ("reply_time_in_minutes", "first_resolution_time_in_minutes",
                    "full_resolution_time_in_minutes"):  # fmt: skip
            assert set(m[key]) == {"calendar", "business"}
        if m["solved_at"] is not None:
            assert _parse_ts(m["solved_at"]) >= _parse_ts(t["created_at"])
            assert m["reply_time_in_minutes"]["business"] is not None
        if t["status"] in ("solved", "closed"):
            assert m["solved_at"] is not None
        if t["status"] in ("new", "open", "pending", "hold"):
            assert m["solved_at"] is None
        if t["status"] == "new":
            assert m["reply_time_in_minutes"] == {"calendar": None, "business": None}
    assert {"good", "bad", "offered"} <= {r["score"] for r in ratings}
    for r in ratings:
        assert r["ticket_id"] in by_id
        solved = next(m for m in metrics if m["ticket_id"] == r["ticket_id"])["solved_at"]
        assert _parse_ts(r["created_at"]) >= _parse_ts(solved)


def test_surveys(world: tuple[Path, dict[str, Any]]) -> None:
    out, manifest = world
    form = json.loads((out / "typeform" / "form.json").read_text())
    refs = {f["ref"]: f for f in form["fields"]}
    assert form["id"] == "NPS01" and refs["nps_score"]["type"] == "opinion_scale"
    assert refs["nps_comment"]["type"] == "long_text"
    responses = _jsonl(out / "typeform" / "responses.jsonl")
    without_score = 0
    per_user_month: Counter[tuple[str, str]] = Counter()
    for r in responses:
        assert r.get("response_id", r["token"]) == r["token"]  # response_id may be left out
        assert set(r["hidden"]) in ({"user_id", "account_id"}, {"account_id"})
        assert _parse_ts(r["landed_at"]) <= _parse_ts(r["submitted_at"])
        scores = [a for a in r["answers"] if a["field"]["ref"] == "nps_score"]
        for a in r["answers"]:
            assert refs[a["field"]["ref"]]["id"] == a["field"]["id"]
            assert a["type"] in a
        if not scores:
            without_score += 1
            continue
        assert 0 <= scores[0]["number"] <= 10
        if r["hidden"].get("user_id"):
            per_user_month[(r["hidden"]["user_id"], r["submitted_at"][:7])] += 1
    planted = manifest["planted"]
    assert without_score == planted["typeform_responses_without_score"]
    assert planted["typeform_responses_without_response_id"] == sum(
        "response_id" not in r for r in responses
    )
    assert sum(1 for v in per_user_month.values() if v > 1) >= 1

    rows: list[dict[str, str]] = []
    for path in sorted((out / "file_drop" / "surveys").glob("*.csv")):
        with path.open() as fh:
            reader = csv.DictReader(fh)
            assert reader.fieldnames == [
                "response_id", "submitted_at", "user_id", "account_id", "survey", "score", "comment"
            ]  # fmt: skip
            rows.extend(reader)
    assert len(rows) == manifest["counts"]["survey_csv_rows"]
    out_of_range = [
        r for r in rows
        if not (0 <= int(r["score"]) <= (10 if r["survey"] == "nps" else 5) and
                (r["survey"] == "nps" or int(r["score"]) >= 1))
    ]  # fmt: skip
    assert [r["response_id"] for r in out_of_range] == [
        manifest["planted_where"]["survey_csv_bad_score"]["response_id"]
    ]
    assert {r["survey"] for r in rows} == {"nps", "csat"}
    dup = Counter(r["response_id"] for r in rows)
    assert sum(1 for v in dup.values() if v > 1) == planted["survey_csv_duplicate_rows"] == 1


def test_licenses(
    world: tuple[Path, dict[str, Any]], event_lines: list[tuple[str, int, str]]
) -> None:
    out, manifest = world
    customers = _jsonl(out / "stripe" / "customers.jsonl")
    subscriptions = _jsonl(out / "stripe" / "subscriptions.jsonl")
    customer_ids = {c["id"] for c in customers}
    subscribed = {s["customer"] for s in subscriptions}
    assert all(c["metadata"]["account_id"] for c in customers if c["id"] in subscribed)
    unresolved = [c for c in customers if "account_id" not in c["metadata"]]
    assert len(unresolved) == manifest["planted"]["stripe_unresolved_customers"]
    multi = [s for s in subscriptions if len(s["items"]["data"]) > 1]
    assert len(multi) == manifest["planted"]["stripe_multi_item_subscriptions"]
    assert all(s.get("quantity") is None and s.get("plan") is None for s in multi)
    statuses = Counter(s["status"] for s in subscriptions)
    assert statuses["active"] and statuses["canceled"]
    assert any(s["cancel_at_period_end"] and s["status"] == "active" for s in subscriptions)
    for s in subscriptions:
        assert s["customer"] in customer_ids
        assert s["current_period_start"] < s["current_period_end"]
        if s["status"] == "canceled":
            assert s["ended_at"] and s["canceled_at"] and s["ended_at"] >= s["start_date"]
        for item in s["items"]["data"]:
            price = item["price"]
            assert item["quantity"] > 0 and price["unit_amount"] > 0
            assert price["recurring"]["interval"] in ("month", "year") and price["product"]
    per_customer = Counter(s["customer"] for s in subscriptions)
    assert max(per_customer.values()) >= 2, "an upgrade is a second subscription"

    with (out / "file_drop" / "licenses" / "licenses_2025-06-30.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == manifest["counts"]["license_csv_rows"]
    bad = [r for r in rows if not r["seats"].isdigit()]
    assert [r["license_id"] for r in bad] == [
        manifest["planted_where"]["license_csv_bad_seats"]["license_id"]
    ]
    assert any(r["ends_on"] == "" for r in rows)

    named = set()
    for _, _, line in event_lines:
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        named.add(msg.get("groupId"))
        named.add(msg.get("context", {}).get("groupId"))
    orphans = set(manifest["scenario"]["license_only_accounts"])
    licensed = {c["metadata"].get("account_id") for c in customers} | {
        r["account_id"] for r in rows
    }
    assert orphans <= licensed and not orphans & named


def test_cli_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["generate", "--out", str(tmp_path), "--scale", "0.02", "--seed", "3",
                 "--end-date", "2025-01-31", "--days", "60"])  # fmt: skip
    assert code == 0
    manifest = json.loads((tmp_path / "world.json").read_text())
    assert manifest["end_date"] == "2025-01-31" and manifest["days"] == 60
    assert "generated in" in capsys.readouterr().out


def test_usage_depth_stories(
    world: tuple[Path, dict[str, Any]], event_lines: list[tuple[str, int, str]]
) -> None:
    """Experiments as seeded in dbt_project/seeds, and the resurrection wave at the launch."""
    _, manifest = world
    lines_by_id: Counter[str] = Counter()
    for _, _, line in event_lines:
        try:
            lines_by_id[json.loads(line).get("messageId", "")] += 1
        except json.JSONDecodeError:
            continue
    messages = _valid_messages(event_lines)
    views = [m for m in messages if m.get("event") == "Experiment Viewed"]
    assert all(m.get("userId") for m in views)
    seeded = {"onboarding_checklist", "share_dialog_redesign", "insight_prompt_style"}
    variations: dict[tuple[Any, str], set[Any]] = defaultdict(set)
    exposures: Counter[tuple[Any, str]] = Counter()
    for m in views:
        key = (m["properties"]["experiment_id"], m["userId"])
        variations[key].add(m["properties"]["variation_id"])
        exposures[key] += 1
    assert {e for e, _ in variations} == seeded | {1042}  # and an unseeded numeric id
    arms = {e: set().union(*(v for (x, _), v in variations.items() if x == e)) for e in seeded}
    assert arms["insight_prompt_style"] >= {"control", "concise", "detailed"}
    assert "holdout" in set().union(*arms.values())  # an unseeded variation
    seeded_arms = {"control", "checklist", "redesign", "concise", "detailed"}
    assert any(len(v & seeded_arms) > 1 for v in variations.values())  # crossovers
    assert any(n > 1 for n in exposures.values())  # repeat exposures
    assert any(lines_by_id[m["messageId"]] > 1 for m in views)  # re-delivered copies
    goals = {"Onboarding Completed", "Share Link Copied", "Insight Rated"}
    assert goals <= {m.get("event") for m in messages}

    # Resurrection wave: users active before, silent for the three weeks before the AI
    # launch, back in the launch week.
    launch = date.fromisoformat(manifest["launches"]["ai_insights"])
    days: dict[str, set[date]] = defaultdict(set)
    for m in messages:
        if m["type"] in ("track", "page") and m.get("userId"):
            days[m["userId"]].add(m["_ts"].date())
    quiet = (launch - timedelta(days=21), launch)
    back = [
        user
        for user, active in days.items()
        if min(active) < quiet[0]
        and not any(quiet[0] <= d < quiet[1] for d in active)
        and any(launch <= d < launch + timedelta(days=7) for d in active)
    ]
    assert len(back) >= 2


SHAPES = (
    "zendesk_earlier_ticket_versions",
    "zendesk_equal_updated_at_versions",
    "zendesk_text_id_tickets",
    "stripe_multi_item_subscriptions",
    "stripe_unresolved_customers",
    "typeform_responses_without_response_id",
    "typeform_responses_without_user_id_key",
)


def test_record_shapes_vary_by_seed_but_not_the_story(tmp_path: Path) -> None:
    """Each vendor shape appears in some seeds and not in others (issue #11)."""
    seen: dict[str, list[int]] = {shape: [] for shape in SHAPES}
    for seed in range(1, 9):
        planted = generate_world(tmp_path / str(seed), scale=0.02, seed=seed, end_date=END)[
            "planted"
        ]
        for shape in SHAPES:
            seen[shape].append(planted[shape])
    for shape, values in seen.items():
        assert any(values) and not all(values), (shape, values)


def test_make_run_refuses_a_world_whose_last_events_are_ahead_of_the_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Whatever the time of day: yesterday's last event (today 00:00) is never ahead of now plus
    # the default hour, and tomorrow's (the day after, 00:00) always is, but not of now plus
    # 48 hours. (Today's own end_date passes from 23:00 UTC, so it cannot be the refused case.)
    today = datetime.now(UTC).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert world_ahead_of_clock({"end_date": (today - timedelta(days=1)).isoformat()}) is None
    refusal = world_ahead_of_clock({"end_date": tomorrow})
    assert refusal is not None and "PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS" in refusal
    monkeypatch.setenv("PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS", "48")
    assert world_ahead_of_clock({"end_date": tomorrow}) is None
    monkeypatch.delenv("PLAUSIBILITY__MAX_FUTURE_SKEW_HOURS")
    # The whole command stops before the sandbox and the run, with the fix in its message.
    world = tmp_path / "world"
    args = ["--use-environment", "--data", str(world), "--scale", "0.02", "--end-date", tomorrow]
    assert run_demo(args) == 2
    assert "--end-date" in capsys.readouterr().err
    assert json.loads((world / "world.json").read_text())["end_date"] == tomorrow
