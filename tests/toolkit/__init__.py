"""The one place for test helpers; fixtures that use them are defined in tests/conftest.py.

Import what you need from its part, e.g. `from tests.toolkit.warehouse import query`:

- `paths`: PROJECT_ROOT, the dbt project, the venv's executables, ../shared/realdata.
- `warehouse`: read a warehouse after a load or build (`query`, `pg_query`, `row_count`,
  `table_counts`, `completed_loads`, `rejects`, `column_types`).
- `files`: input files of the file loaders (Segment event lines, the file-drop CSV samples).
- `sandbox`: a small Zendesk/Typeform/Stripe world for the vendor sandbox, the loaders'
  keyword arguments (`source_kwargs`) and a whole run's settings (`demo_settings`).
- `runs`: start `python -m orchestration.run` / `demo.run` in an environment of its own
  (`run_env`, `run_module`, `run_output`), and `alive(pid)` for kill tests.
- `dbt`: hand-made raw tables as dlt writes them (DuckDB or PostgreSQL), `run_dbt`, the load
  ids and the list of dbt marts; `usage_fixture` holds the hand-checked raw rows.
- `small_marts`: hand-written marts standing in for a built warehouse (report, semantic layer).
- `chromium`: a headless Chromium page for tests that look at pages as a person does.
- `independent`: METRICS.md computed a second time from the raw tables and the seeds, and the
  one comparison of such a table with its mart (`compare_with_mart`).

No test file imports another test file: what two test files share belongs here.
"""
