"""CreateSchema, DescribeSchema, ListSchemas, DeleteSchema: Avro record schemas for the datasets.

A schema is checked when it is created (JSON, an Avro ``record`` with uniquely named, flat fields of the
types the service allows) and against a dataset type when a dataset uses it (the type's required fields
with their types: https://docs.aws.amazon.com/personalize/latest/dg/interactions-dataset-requirements.html).
"""

from __future__ import annotations

import json

from hrnn.errors import InvalidInputException, ResourceInUseException

from .. import arns
from .listing import list_records

AVRO_TYPES = ("string", "long", "int", "float", "double", "boolean", "null")
REQUIRED_FIELDS = {
    "INTERACTIONS": {"USER_ID": "string", "ITEM_ID": "string", "TIMESTAMP": "long"},
    "ITEMS": {"ITEM_ID": "string"},
    "USERS": {"USER_ID": "string"},
}


def create_schema(ctx, request: dict) -> dict:
    if request.get("domain"):
        raise InvalidInputException("domain: domain schemas (recommenders) are not supported; omit domain.")
    fields = parse_fields(request["schema"])
    record, _ = ctx.store.create(arns.SCHEMA, request["name"], {
        "name": request["name"], "schemaArn": ctx.store.arn(arns.SCHEMA, request["name"]),
        "schema": request["schema"]}, request, fields=fields)
    return {"schemaArn": record.arn}


def describe_schema(ctx, request: dict) -> dict:
    return {"schema": ctx.store.find(arns.SCHEMA, request["schemaArn"]).public}


def delete_schema(ctx, request: dict) -> dict:
    schema = ctx.store.find(arns.SCHEMA, request["schemaArn"])
    using = [r.arn for r in ctx.store.all(arns.DATASET) if r.public["schemaArn"] == schema.arn]
    if using:
        raise ResourceInUseException(f"Schema {schema.arn} is used by dataset {using[0]}; delete the dataset first.")
    ctx.store.delete(schema)
    return {}


def list_schemas(ctx, request: dict) -> dict:
    return list_records(ctx, request, arns.SCHEMA, "schemas",
                        ("name", "schemaArn", "creationDateTime", "lastUpdatedDateTime"))


def parse_fields(text: str) -> dict[str, list[str]]:
    """``{field name: [Avro types]}`` of a schema; InvalidInput naming what is wrong."""
    try:
        schema = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidInputException(f"schema is not valid JSON: {getattr(exc, 'msg', exc)}.") from None
    if not isinstance(schema, dict) or schema.get("type") != "record" or not isinstance(schema.get("fields"), list):
        raise InvalidInputException('schema must be an Avro record: {"type": "record", "name": ..., "fields": [...]}.')
    fields: dict[str, list[str]] = {}
    for i, item in enumerate(schema["fields"]):
        name = item.get("name") if isinstance(item, dict) else None
        types = item.get("type") if isinstance(item, dict) else None
        types = [types] if isinstance(types, str) else types
        if not isinstance(name, str) or not name:
            raise InvalidInputException(f"schema fields[{i}] has no name.")
        if name in fields:
            raise InvalidInputException(f"schema field {name!r} appears more than once.")
        if not isinstance(types, list) or not types or not all(t in AVRO_TYPES for t in types):
            raise InvalidInputException(
                f"schema field {name!r} has type {json.dumps(item.get('type'))}; expected one of "
                f"{', '.join(AVRO_TYPES)} or a union of them.")
        fields[name] = types
    return fields


def check_fits(fields: dict[str, list[str]], dataset_type: str, schema_arn: str) -> None:
    """A dataset's schema must declare its type's required fields, with their types and not nullable."""
    for name, avro_type in REQUIRED_FIELDS[dataset_type].items():
        declared = fields.get(name)
        if declared != [avro_type]:
            found = f"declares it as {declared}" if declared else "does not declare it"
            raise InvalidInputException(
                f"Schema {schema_arn} does not fit a {dataset_type} dataset: field {name} must be "
                f"{avro_type!r} (not nullable); the schema {found}.")
