"""Survey answers of the sample world: the Typeform NPS form and the CSV drop of another tool.

Scores follow each account's sentiment, which falls for declining accounts over the last six
weeks, so NPS and the health score's sentiment component move with usage and tickets.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from demo.common import DAY, iso_z, random_tokens, write_csv, write_json, write_jsonl
from demo.model import Model
from demo.zendesk import shape_rng

FORM_ID = "NPS01"
SCORE_FIELD = {"id": "Xq7Ln2PbKd0s", "ref": "nps_score", "type": "opinion_scale"}
COMMENT_FIELD = {"id": "Vb3TgR9mWq1e", "ref": "nps_comment", "type": "long_text"}
USE_FIELD = {"id": "Pk8sYd4NcZ2u", "ref": "primary_use", "type": "multiple_choice"}
USE_CHOICES = (
    {"id": "c1Rp0rTs", "ref": "use_reporting", "label": "Reporting"},
    {"id": "c2Da5hBd", "ref": "use_dashboards", "label": "Dashboards"},
    {"id": "c3Al3rTz", "ref": "use_alerting", "label": "Alerting"},
    {"id": "c4Ai1nSg", "ref": "use_ai", "label": "AI insights"},
)
SURVEY_HEADER = (
    "response_id",
    "submitted_at",
    "user_id",
    "account_id",
    "survey",
    "score",
    "comment",
)
PROMOTER_COMMENTS = (
    "Love the dashboards, the whole team uses them daily.",
    "Great product — saves us hours every week.",
    'The "AI insights" are surprisingly good.',
    "Support is fast and friendly.",
)
PASSIVE_COMMENTS = (
    "Good, but exports could be faster.",
    "Does the job; pricing is a bit high.",
    "Fine overall, some reports are slow to load.",
)
DETRACTOR_COMMENTS = (
    "Too many bugs lately, and support takes days to answer.",
    "We are evaluating alternatives, the tool got slower.",
    "Hard to use, my team stopped logging in.",
    "Billing, seats and permissions are confusing, frankly.",
)
CSAT_COMMENTS = ("Very helpful", "OK", "Could be better", "Export worked, thanks", "Slow today")
TYPEFORM_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)


def form_definition() -> dict[str, Any]:
    """Return the Typeform form object (GET /forms/NPS01) the responses refer to."""
    return {
        "id": FORM_ID,
        "type": "form",
        "title": "How likely are you to recommend ProductOps?",
        "workspace": {"href": "https://api.typeform.com/workspaces/pRoDoPs"},
        "theme": {"href": "https://api.typeform.com/themes/qHWOQ7"},
        "settings": {"language": "en", "progress_bar": "proportion", "is_public": True},
        "hidden": ["user_id", "account_id"],
        "welcome_screens": [],
        "thankyou_screens": [
            {
                "id": "DefaultTyScreen",
                "ref": "default_tys",
                "title": "Thanks for your feedback!",
                "type": "thankyou_screen",
                "properties": {"show_button": False, "share_icons": False},
            }
        ],
        "fields": [
            {
                **_field(SCORE_FIELD),
                "title": "How likely are you to recommend ProductOps to a friend or colleague?",
                "properties": {
                    "steps": 11,
                    "start_at_one": False,
                    "labels": {"left": "Not at all likely", "right": "Extremely likely"},
                },
                "validations": {"required": False},
            },
            {
                **_field(COMMENT_FIELD),
                "title": "What is the main reason for your score?",
                "properties": {},
                "validations": {"required": False},
            },
            {
                **_field(USE_FIELD),
                "title": "What do you use ProductOps for most?",
                "properties": {
                    "randomize": False,
                    "allow_multiple_selection": False,
                    "allow_other_choice": False,
                    "vertical_alignment": True,
                    "choices": list(USE_CHOICES),
                },
                "validations": {"required": False},
            },
        ],
        "created_at": "2023-01-10T09:00:00+00:00",
        "last_updated_at": "2023-03-02T14:30:00+00:00",
        "published_at": "2023-03-02T14:30:00+00:00",
        "_links": {"display": f"https://productops.typeform.com/to/{FORM_ID}"},
    }


def _field(spec: dict[str, str]) -> dict[str, str]:
    return {"id": spec["id"], "ref": spec["ref"], "type": spec["type"]}


def _comment(rng: np.random.Generator, score: int) -> str:
    pool = (
        PROMOTER_COMMENTS if score >= 9 else PASSIVE_COMMENTS if score >= 7 else DETRACTOR_COMMENTS
    )
    return pool[int(rng.integers(0, len(pool)))]


def write_surveys(model: Model, rng: np.random.Generator, out: Path) -> tuple[dict, dict]:
    """Write typeform/form.json, typeform/responses.jsonl and the survey CSV drop."""
    shutil.rmtree(out / "typeform", ignore_errors=True)
    shutil.rmtree(out / "file_drop" / "surveys", ignore_errors=True)
    n_acc, days = len(model.acc_ids), model.days
    total = max(40, round(1500 * model.scale))
    n_typeform = round(total * 0.6)
    n_csv = total - n_typeform

    # Each account's sentiment: a mean NPS score; declining accounts sour in the last 6 weeks.
    mood = np.clip(8.1 + rng.normal(0, 1.0, n_acc) + 0.3 * (model.acc_plan == 3), 3.0, 9.8)
    ramp = np.clip((np.arange(-40, days) - (days - 42)) / 42.0, 0.0, 1.0)  # from day -40

    def draw_people(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(user, account, day, seconds) of n answers; 3% from the month before the window."""
        early = rng.random(n) < 0.03
        day = np.where(early, -rng.integers(1, 40, n), rng.integers(0, days, n))
        user = rng.integers(0, len(model.user_ids), n)
        # Re-draw users outside their active period once; good enough for plausibility.
        bad = (day < model.user_start[user] - 30) | (day >= model.user_end[user])
        user[bad] = rng.integers(0, len(model.user_ids), int(bad.sum()))
        acc = model.user_acc[user].copy()
        second = model.user_acc2[user]
        swap = (second >= 0) & (rng.random(n) < 0.4)
        acc[swap] = second[swap]
        local = rng.uniform(8 * 3600, 20 * 3600, n).astype(np.int64) - model.acc_tz[acc] * 60
        seconds = np.clip(model.t0 + day * DAY + local, model.t0 - 40 * DAY, model.now - 60)
        order = np.argsort(seconds, kind="stable")
        return user[order], acc[order], day[order], seconds[order]

    def nps_score(acc: int, day: int) -> int:
        mean = mood[acc] - (4.5 * ramp[day + 40] if model.acc_declining[acc] else 0.0)
        return int(np.clip(np.round(rng.normal(mean, 1.7)), 0, 10))

    # --- Typeform --------------------------------------------------------------------------
    t_user, t_acc, t_day, t_sec = draw_people(n_typeform)
    n_repeat = max(1, round(0.01 * n_typeform))
    tokens = random_tokens(rng, n_typeform + n_repeat, 32)
    networks = random_tokens(rng, n_typeform + n_repeat, 10)
    n_no_score = max(1, round(0.01 * n_typeform))
    no_score = set(rng.choice(n_typeform, n_no_score, replace=False).tolist())
    n_no_user = max(1, round(0.01 * n_typeform))
    no_user = set(rng.choice(n_typeform, n_no_user, replace=False).tolist()) - no_score
    responses = []
    for i in range(n_typeform):
        a, u, sec = int(t_acc[i]), int(t_user[i]), int(t_sec[i])
        score = nps_score(a, int(t_day[i]))
        answers: list[dict[str, Any]] = []
        if i not in no_score:
            answers.append({"field": _field(SCORE_FIELD), "type": "number", "number": score})
        if i in no_score or rng.random() < 0.45:
            text = _comment(rng, score)
            answers.append({"field": _field(COMMENT_FIELD), "type": "text", "text": text})
        if rng.random() < 0.7:
            choice = USE_CHOICES[int(rng.integers(0, len(USE_CHOICES)))]
            answers.append({"field": _field(USE_FIELD), "type": "choice", "choice": dict(choice)})
        hidden = {
            "user_id": "" if i in no_user else model.user_ids[u],
            "account_id": model.acc_ids[a],
        }
        responses.append(_response(tokens[i], networks[i], sec, hidden, answers, rng))
    # Users who answered twice in the same month (the later answer is the one that counts).
    repeat_pool = [
        i
        for i in range(n_typeform)
        if i not in no_score and i not in no_user and model.day(int(t_day[i])).day <= 20
    ]
    repeats = rng.choice(repeat_pool, min(n_repeat, len(repeat_pool)), replace=False)
    for j, i in enumerate(sorted(int(x) for x in repeats)):
        a, u = int(t_acc[i]), int(t_user[i])
        sec = min(int(t_sec[i]) + int(rng.integers(1, 7)) * DAY, model.now - 60)
        score = nps_score(a, int(t_day[i]))
        answers = [{"field": _field(SCORE_FIELD), "type": "number", "number": score}]
        hidden = {"user_id": model.user_ids[u], "account_id": model.acc_ids[a]}
        k = n_typeform + j
        responses.append(_response(tokens[k], networks[k], sec, hidden, answers, rng))
    responses.sort(key=lambda r: (r["submitted_at"], r["response_id"]))
    write_json(out / "typeform" / "form.json", form_definition())
    shape_counts = _vary_response_shapes(responses, shape_rng(rng))
    n_responses = write_jsonl(out / "typeform" / "responses.jsonl", responses)

    # --- CSV drop: CSAT (1-5) from an in-app widget and NPS from another tool ----------------
    c_user, c_acc, c_day, c_sec = draw_people(n_csv)
    ids = random_tokens(rng, n_csv, 12)
    rows: list[list[Any]] = []
    for i in range(n_csv):
        a, u, day = int(c_acc[i]), int(c_user[i]), int(c_day[i])
        user_id = "" if rng.random() < 0.03 else model.user_ids[u]
        if rng.random() < 0.7:
            p_high = np.clip((mood[a] - 4.0) / 6.0, 0.05, 0.95)
            if model.acc_declining[a]:
                p_high *= 1.0 - 0.7 * ramp[day + 40]
            score = int(rng.choice([4, 5])) if rng.random() < p_high else int(rng.integers(1, 4))
            comment = (
                CSAT_COMMENTS[int(rng.integers(0, len(CSAT_COMMENTS)))]
                if rng.random() < 0.3
                else ""
            )
            rows.append(
                [f"fd_{ids[i]}", iso_z(c_sec[i]), user_id, model.acc_ids[a], "csat", score, comment]
            )
        else:
            score = nps_score(a, day)
            comment = _comment(rng, score) if rng.random() < 0.4 else ""
            rows.append(
                [f"fd_{ids[i]}", iso_z(c_sec[i]), user_id, model.acc_ids[a], "nps", score, comment]
            )
    # Planted: one NPS row with an impossible score, and one row exported again next month.
    bad = int(rng.integers(0, len(rows)))
    rows[bad] = [*rows[bad][:4], "nps", 11, "ten out of ten!!"]
    by_month: dict[str, list[list[Any]]] = {}
    for row in rows:
        by_month.setdefault(row[1][:7], []).append(row)
    months = sorted(by_month)
    duplicated = None
    if len(months) >= 2:
        source = [r for r in by_month[months[-2]] if r is not rows[bad]]
        duplicated = source[int(rng.integers(0, len(source)))]
        by_month[months[-1]].append(list(duplicated))
    csv_rows = 0
    files = []
    for month in months:
        path = out / "file_drop" / "surveys" / f"survey_responses_{month}.csv"
        csv_rows += write_csv(path, SURVEY_HEADER, by_month[month])
        files.append(path.relative_to(out).as_posix())

    counts = {
        "typeform_responses": n_responses,
        "survey_csv_rows": csv_rows,
        "survey_csv_files": len(files),
    }
    planted = {
        "counts": {
            "survey_csv_bad_score": 1,
            "survey_csv_duplicate_rows": 1 if duplicated else 0,
            "typeform_responses_without_score": len(no_score),
            "typeform_responses_without_user": len(no_user),
            **shape_counts,
            "nps_repeat_answers_same_month": len(repeats),
        },
        "where": {
            "survey_csv_bad_score": {"response_id": rows[bad][0]},
            "survey_csv_duplicate_row": {"response_id": duplicated[0]} if duplicated else None,
        },
    }
    return counts, planted


def _vary_response_shapes(
    responses: list[dict[str, Any]], shapes: np.random.Generator
) -> dict[str, int]:
    """Vary response shapes by seed as Typeform documents them (Responses API reference).

    Some seeds leave out `response_id` (the `token` is the same id) or `metadata`, and send a
    response without a user as hidden fields without `user_id` instead of an empty one. The
    ids, times and answers, and so every number, are unchanged.
    """
    p_no_response_id = float(shapes.choice([0.0, 0.3]))
    p_no_metadata = float(shapes.choice([0.0, 0.2]))
    drop_empty_user = bool(shapes.random() < 0.5)
    without_id = without_user_key = 0
    for response in responses:
        if shapes.random() < p_no_response_id:
            del response["response_id"]
            without_id += 1
        if shapes.random() < p_no_metadata:
            del response["metadata"]
        if drop_empty_user and response["hidden"].get("user_id") == "":
            response["hidden"] = {"account_id": response["hidden"]["account_id"]}
            without_user_key += 1
    return {
        "typeform_responses_without_response_id": without_id,
        "typeform_responses_without_user_id_key": without_user_key,
    }


def _response(
    token: str,
    network: str,
    submitted: int,
    hidden: dict[str, str],
    answers: list[dict[str, Any]],
    rng: np.random.Generator,
) -> dict[str, Any]:
    landed = submitted - int(rng.integers(15, 400))
    return {
        "landing_id": token,
        "token": token,
        "response_id": token,
        "landed_at": iso_z(landed),
        "submitted_at": iso_z(submitted),
        "metadata": {
            "user_agent": TYPEFORM_UA,
            "platform": "other",
            "referer": f"https://productops.typeform.com/to/{FORM_ID}",
            "network_id": network,
            "browser": "default",
        },
        "hidden": hidden,
        "calculated": {"score": 0},
        "answers": answers,
    }
