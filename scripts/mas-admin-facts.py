#!/usr/bin/env python3
"""Extract, per operation of an admin API OpenAPI document, the facts Gatehouse's parity test
(tests/it/openapi.rs, `admin_api_matches_mas`) compares: path (with the server prefix), method,
operationId, query parameter names and attribute names (of the resource in the success answer,
or the answer's own properties when it is no resource document).

Regenerate the checked-in copy from MAS's spec (facts only; the spec's prose is not kept):

    git --git-dir <mas>.git show v1.22.0:docs/api/spec.json \
      | scripts/mas-admin-facts.py "element-hq/matrix-authentication-service v1.22.0 docs/api/spec.json" \
      > tests/data/mas-admin-v1.22.json

Standard library only.
"""
import json
import sys

METHODS = ("get", "put", "post", "delete", "patch")


def resolve(spec, schema):
    while isinstance(schema, dict) and "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema if isinstance(schema, dict) else {}


def properties(spec, schema):
    """Properties of a schema, through $ref, allOf, anyOf and oneOf."""
    schema = resolve(spec, schema)
    found = {}
    for combinator in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(combinator, []):
            found.update(properties(spec, part))
    found.update(schema.get("properties", {}))
    return found


def items(spec, schema):
    """The item schema of a list schema, if it is one."""
    schema = resolve(spec, schema)
    if "items" in schema:
        return schema["items"]
    for combinator in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(combinator, []):
            found = items(spec, part)
            if found is not None:
                return found
    return None


def attributes(spec, operation):
    for status, response in sorted(operation.get("responses", {}).items()):
        if not status.startswith("2"):
            continue
        for media in response.get("content", {}).values():
            body = properties(spec, media.get("schema", {}))
            if "data" in body:
                resource = items(spec, body["data"]) or body["data"]
                attrs = properties(spec, resource).get("attributes")
                if attrs is not None:
                    return sorted(properties(spec, attrs))
            if body:
                return sorted(body)
    return []


def facts(spec):
    server = ""
    servers = spec.get("servers") or []
    if servers and not servers[0].get("url", "").startswith("{"):
        server = servers[0]["url"].rstrip("/")
    operations = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            operations.append(
                {
                    "path": server + path,
                    "method": method,
                    "operationId": operation.get("operationId"),
                    "query": sorted(
                        p["name"]
                        for p in operation.get("parameters", [])
                        if resolve(spec, p).get("in") == "query"
                    ),
                    "attributes": attributes(spec, operation),
                }
            )
    operations.sort(key=lambda o: (o["path"], o["method"]))
    return operations


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: mas-admin-facts.py SOURCE-DESCRIPTION < spec.json > facts.json")
    spec = json.load(sys.stdin)
    out = {"source": sys.argv[1], "operations": facts(spec)}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
