"""How dbt nodes appear in Dagster: groups and owners from the dbt project, checks from tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from orchestration.lib.project import OWNERS


class ProductOpsDbtTranslator(DagsterDbtTranslator):
    """Default keys (sources -> [source_name, table], models -> [name]); folder groups; owners."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The folder a model sits in: `marts/product/...` is group `product`.

        Staging folders are named after their source system (`staging/zendesk/`), so a source's
        raw tables and its staging models share a group; intermediate and mart folders are the
        business domains. A dbt `group` or `meta.dagster.group` still wins (dagster-dbt's rule).
        """
        configured = super().get_group_name(dbt_resource_props)
        if configured:
            return configured
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        folders = dbt_resource_props.get("fqn", [])[1:-1]  # between the project and the name
        return str(folders[-1]) if folders else None

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> Sequence[str] | None:
        """`meta.dagster.owners` or the dbt group's owner; otherwise the data team."""
        return super().get_owners(dbt_resource_props) or OWNERS
