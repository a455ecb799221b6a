"""template.yaml as data: the local stack and the tests build their resources from what deploys."""

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]  # dev/loyalty_hub_dev/local/ -> the repository
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """Keeps CloudFormation short-form tags (!Ref, !GetAtt, ...) as {"Ref": ...}/{"Fn::X": ...}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":  # "!GetAtt Res.Attr" is the short form of [Res, Attr]
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    key = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    return {key: value}


_CfnLoader.add_multi_constructor("!", _tag)


@cache
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    return loaded


def resources(kind: str | None = None) -> dict[str, dict[str, Any]]:
    every: dict[str, dict[str, Any]] = template()["Resources"]
    return {name: r for name, r in every.items() if kind is None or r["Type"] == kind}


def resource(logical_id: str) -> dict[str, Any]:
    return resources()[logical_id]


def tables() -> list[str]:
    return list(resources("AWS::DynamoDB::Table"))


def table_definition(logical_id: str, table_name: str) -> dict[str, Any]:
    """CreateTable arguments for a template table, minus what has no local meaning (PITR, SSE)."""
    props = resource(logical_id)["Properties"]
    definition: dict[str, Any] = {
        "TableName": table_name,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
    }
    if "GlobalSecondaryIndexes" in props:
        definition["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if "StreamSpecification" in props:
        definition["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    return definition


def parameter_defaults() -> dict[str, str]:
    return {name: str(p.get("Default", "")) for name, p in template().get("Parameters", {}).items()}


class Resolver:
    """Evaluates the intrinsic functions the template uses, given each resource's physical name."""

    def __init__(self, names: dict[str, str], attributes: dict[tuple[str, str], str], parameters: dict[str, str]):
        self._names = names
        self._attributes = attributes
        self._parameters = {
            "AWS::Region": "eu-central-1",
            "AWS::AccountId": "123456789012",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            **parameters,
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key == "Fn::GetAtt":
                return self._attributes[(argument[0], argument[1])]
            if key == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                values = {name: str(self(v)) for name, v in variables.items()}  # SAM's [text, {var: value}]
                return re.sub(r"\$\{([^}]+)\}", lambda m: values.get(m.group(1)) or self._sub(m.group(1)), text)
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self(v) for v in value]
        return value

    def describe(self) -> dict[str, Any]:
        """What every name and attribute resolves to, as JSON (the call trace's header)."""
        attributes = {f"{logical_id}.{attribute}": v for (logical_id, attribute), v in self._attributes.items()}
        return {"names": dict(self._names), "attributes": attributes, "parameters": dict(self._parameters)}

    def _ref(self, name: str) -> str:
        return self._parameters[name] if name in self._parameters else self._names[name]

    def _sub(self, expression: str) -> str:
        if "." in expression and not expression.startswith("AWS::"):
            logical_id, attribute = expression.split(".", 1)
            return self._attributes[(logical_id, attribute)]
        return self._ref(expression)
