"""METRICS.md implemented a second time, independently of the dbt models.

Each area module (`usage`, `support`, `accounts`) has `expected_marts(con, seeds)`: it reads
only the `raw_*` tables (rows of completed dlt loads) through a read-only DuckDB connection
and the CSVs in `dbt_project/seeds`, never `staging`, `intermediate` or `marts`, and returns
the expected rows of each mart it covers. `compare` holds the one comparison with the mart.
Where METRICS.md is silent, the modules follow the decision written in docs/metrics.md.
"""
