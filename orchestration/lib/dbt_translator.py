"""How dbt nodes appear in Dagster: groups by domain, owners, and the source keys dlt produces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

from orchestration.lib.domains import domain_of
from orchestration.lib.project import OWNERS


class ProductOpsDbtTranslator(DagsterDbtTranslator):
    """Default keys (sources -> [source_name, table], models -> [name]); domain groups; owners."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """Group by business domain, so each domain reads left to right in the UI."""
        fqn = dbt_resource_props.get("fqn", [])
        return domain_of(dbt_resource_props["name"], *reversed(fqn[1:-1]))

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        """Every model belongs to the data team until a domain team adopts it."""
        return OWNERS
