"""The Dagster definitions load into one connected graph: source -> raw -> staging -> marts."""

from __future__ import annotations

import json
from pathlib import PurePosixPath

import dagster as dg
import pytest

from ingestion.sources import SOURCE_SYSTEMS
from orchestration.lib.project import ensure_dbt_manifest
from tests.toolkit.dbt import DBT_MARTS

# Marts written by a Python asset, not by dbt (their checks are the asset's own).
PYTHON_MARTS = {"fct_experiment_results"}


@pytest.fixture(scope="module")
def graph(defs: dg.Definitions):
    dg.Definitions.validate_loadable(defs)
    return defs.resolve_asset_graph()


def test_every_raw_table_and_mart_is_one_asset(graph) -> None:
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    for system in SOURCE_SYSTEMS:
        for table in system.tables:
            assert f"{system.dataset}/{table}" in keys
    assert {f"marts/{name}" for name in DBT_MARTS | PYTHON_MARTS} <= keys
    manifest = json.loads(ensure_dbt_manifest().read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    sources = manifest["sources"].values()
    # One node per dbt model/seed, one per raw table (dbt source), nothing else: no duplicates.
    # + each dataset's rejected_records (produced by the loader, read by no model) + published/marts
    # + marts/fct_experiment_results (the Python statistics step)
    # + report/product_ops and report/dbt_docs (the weekly report and the dbt docs site)
    raw = len({(s["source_name"], s["name"]) for s in sources})
    assert len(keys) == len(models) + raw + len(SOURCE_SYSTEMS) + 4
    assert {"published/marts", "report/product_ops", "report/dbt_docs"} <= keys


def test_graph_is_connected_with_no_external_islands(graph) -> None:
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.is_materializable, f"{key.to_user_string()} has no producer in the graph"
    # Every staging model reads from a raw table that a dlt asset produces.
    staging = [k for k in graph.get_all_asset_keys() if k.path[-1].startswith("stg_")]
    assert staging
    for key in staging:
        parents = {p.path[0] for p in graph.get(key).parent_keys}
        assert any(p.startswith("raw_") for p in parents), key
    # Each mart descends from at least one raw table.
    for name in DBT_MARTS | PYTHON_MARTS:
        ancestors = graph.upstream_key_iterator(dg.AssetKey(["marts", name]))
        assert any(a.path[0].startswith("raw_") for a in ancestors), name


def test_dbt_tests_are_asset_checks(graph) -> None:
    manifest = json.loads(ensure_dbt_manifest().read_text())
    tests = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "test"}
    dbt_checks = {c for c in graph.asset_check_keys if c.name in tests}
    assert len(dbt_checks) == len(tests) > 100
    checked = {check.asset_key.path[-1] for check in dbt_checks}
    assert checked >= DBT_MARTS


def test_groups_are_the_dbt_folders(graph) -> None:
    """A model's group is the folder it sits in; a source's raw tables join its staging folder."""
    manifest = json.loads(ensure_dbt_manifest().read_text())

    def group(*path: str) -> str | None:
        return graph.get(dg.AssetKey(list(path))).group_name

    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "seed"):
            continue
        # dagster-dbt's key: [schema, name] when the folder sets a schema (dbt_project.yml).
        schema = node["config"].get("schema")
        key = [schema, node["name"]] if schema else [node["name"]]
        folder = PurePosixPath(node["original_file_path"]).parent.name
        expected = "seeds" if node["resource_type"] == "seed" else folder
        assert group(*key) == expected, node["original_file_path"]
    for system in SOURCE_SYSTEMS:
        for table in system.tables:
            assert group(system.dataset, table) == system.name
    assert group("marts", "fct_tickets") == "support"
    assert group("marts", "fct_active_users_daily") == "product"
    assert group("raw_segment", "events") == group("staging", "stg_segment__events") == "segment"
    assert group("marts", "fct_experiment_results") == "experiments"
    assert group("report", "product_ops") == group("published", "marts") == "publish"
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    domains = {"product", "support", "surveys", "licenses", "accounts", "experiments", "bi"}
    sources = {system.name for system in SOURCE_SYSTEMS}
    assert groups == domains | sources | {"semantic", "seeds", "publish"}
    owners = {owner for k in graph.get_all_asset_keys() for owner in graph.get(k).owners}
    assert owners == {"team:data-engineering"}
