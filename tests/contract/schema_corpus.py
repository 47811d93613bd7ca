"""A corpus of JSON schemas for structured outputs: every row of the README's keyword table, in shapes
real APIs use. `CORPUS` entries are enforced (every output must validate); `REFUSED` entries must be a
400 naming the keyword.

Strings and arrays are bounded (`maxLength`, `maxItems`) and objects closed: a 135M model decoding
greedily can repeat inside a free string or keep adding keys until max_tokens, and cut-off JSON is not
valid whatever the constraint did. The bounds are part of the schema, so the constraint ends them.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def S(n: int = 24, **kw: Any) -> Schema:
    return {"type": "string", "maxLength": n, **kw}


def obj(props: dict[str, Any], required: list[str] | None = None, **kw: Any) -> Schema:
    out: Schema = {"type": "object", "properties": props, "required": list(props) if required is None else required}
    return {**out, "additionalProperties": False, **kw}


def one(key: str, schema: Schema, **kw: Any) -> Schema:
    return obj({key: schema}, **kw)


INT = {"type": "integer", "minimum": -1000, "maximum": 1000}
NUM = {"type": "number", "minimum": -1000, "maximum": 1000}
EMAIL = {"type": "string", "format": "email", "maxLength": 40}
ADDRESS = obj({"street": S(30), "city": S(20), "zip": {"type": "string", "pattern": "^[0-9]{5}$"}})

# (name, row of the README table it exercises, schema, what to ask for)
CORPUS: list[tuple[str, str, Schema, str]] = [
    # numbers and integers, every bound form
    ("score", "number minimum/maximum", one("score", {"type": "number", "minimum": 0, "maximum": 1}), "A confidence score."),
    ("temperature", "number exclusiveMinimum", one("celsius", {"type": "number", "exclusiveMinimum": -273.15, "maximum": 60}), "Today's temperature in Paris."),
    ("percent", "integer minimum/maximum", one("percent", {"type": "integer", "minimum": 0, "maximum": 100}), "Battery level in percent."),
    ("port", "integer bounds", one("port", {"type": "integer", "minimum": 1, "maximum": 65535}), "The HTTPS port."),
    ("debt", "integer exclusiveMaximum", one("balance", {"type": "integer", "exclusiveMaximum": 0, "minimum": -100000}), "A negative account balance."),
    ("step", "integer multipleOf", one("minutes", {"type": "integer", "multipleOf": 5, "minimum": 0, "maximum": 120}), "A meeting length in minutes."),
    ("half", "number multipleOf", one("hours", {"type": "number", "multipleOf": 0.5, "minimum": 0, "maximum": 24}), "Hours slept last night."),
    ("quarter", "number multipleOf", one("price", {"type": "number", "multipleOf": 0.25, "minimum": 0, "maximum": 100}), "The price of a coffee."),
    ("year", "integer range", one("year", {"type": "integer", "minimum": 1900, "maximum": 2100}), "The year the Eiffel Tower opened."),
    ("rating", "number exclusiveMaximum", one("stars", {"type": "number", "minimum": 1, "exclusiveMaximum": 5}), "Rate the movie Inception."),
    # strings
    ("username", "string minLength/maxLength", one("username", {"type": "string", "minLength": 3, "maxLength": 16}), "A username for Alice."),
    ("product", "string pattern", one("code", {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"}), "A product code."),
    ("iban", "string pattern + maxLength", one("iban", {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$", "maxLength": 34}), "A German IBAN."),
    ("date", "format date", one("date", {"type": "string", "format": "date"}), "The date of the moon landing."),
    ("time", "format time", one("time", {"type": "string", "format": "time"}), "The time of sunrise."),
    ("datetime", "format date-time", one("at", {"type": "string", "format": "date-time"}), "When the meeting starts."),
    ("email", "format email", one("email", EMAIL), "Bob's email address."),
    ("uuid", "format uuid", one("id", {"type": "string", "format": "uuid"}), "A new order id."),
    ("uri", "format uri", one("homepage", {"type": "string", "format": "uri", "maxLength": 60}), "Python's homepage."),
    ("ipv4", "format ipv4", one("ip", {"type": "string", "format": "ipv4"}), "The IP of a local router."),
    ("ipv6", "format ipv6", one("ip", {"type": "string", "format": "ipv6"}), "The IPv6 loopback address."),
    ("hostname", "format hostname", one("host", {"type": "string", "format": "hostname", "maxLength": 40}), "The host of the Python website."),
    ("status", "enum", one("status", {"enum": ["open", "closed", "pending"]}), "The status of a ticket."),
    ("const", "const", obj({"version": {"const": "v2"}, "ok": {"type": "boolean"}}), "An API health check."),
    ("color", "string pattern", one("color", {"type": "string", "pattern": "^#[0-9a-f]{6}$"}), "The color red in hex."),
    # arrays
    ("tags", "array minItems/maxItems", one("tags", {"type": "array", "items": S(12), "minItems": 1, "maxItems": 3}), "Tags for a blog post about cooking."),
    ("point", "prefixItems", one("point", {"type": "array", "prefixItems": [NUM, NUM], "items": False, "minItems": 2}), "The coordinates of Paris."),
    ("lines", "array of objects", one("lines", {"type": "array", "items": obj({"sku": S(10), "qty": {"type": "integer", "minimum": 1, "maximum": 99}}), "maxItems": 3}), "An order of two items."),
    ("matrix", "nested arrays", one("rows", {"type": "array", "items": {"type": "array", "items": INT, "minItems": 2, "maxItems": 2}, "minItems": 2, "maxItems": 2}), "A 2x2 identity matrix."),
    ("days", "array of enums", one("days", {"type": "array", "items": {"enum": ["mon", "tue", "wed", "thu", "fri"]}, "maxItems": 5}), "Working days."),
    ("triple", "array exact length", one("rgb", {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}, "minItems": 3, "maxItems": 3}), "The RGB values of orange."),
    ("empty_ok", "array maxItems", one("errors", {"type": "array", "items": S(30), "maxItems": 2}), "A successful build report."),
    # objects
    ("optional", "required (subset)", obj({"name": S(), "nickname": S(), "age": {"type": "integer", "minimum": 0, "maximum": 150}}, ["name"]), "A person."),
    ("closed", "additionalProperties false", obj({"city": S(), "country": S()}), "A city and its country."),
    ("counts", "additionalProperties schema, min/maxProperties", one("counts", {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 99}, "minProperties": 1, "maxProperties": 3}), "Fruit counts in a basket."),
    ("minprops", "minProperties/maxProperties (all required)", obj({"a": INT, "b": INT}, minProperties=2, maxProperties=2), "Two numbers."),
    ("address", "nested objects", one("address", ADDRESS), "The address of a bakery."),
    ("pattern_props", "patternProperties", one("env", {"type": "object", "patternProperties": {"^[A-Z_]{1,12}$": S(20)}, "additionalProperties": False, "maxProperties": 2}), "Environment variables for a web app."),
    ("open_object", "additionalProperties (default)", {"type": "object", "properties": {"title": S()}, "required": ["title"], "maxProperties": 1}, "A book."),
    # combinators
    ("anyof", "anyOf", one("value", {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 9}, S(8)]}), "A lucky number."),
    ("oneof", "oneOf (disjoint)", one("id", {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 999}, {"type": "string", "pattern": "^[a-z]{3}$"}]}), "An id."),
    ("allof", "allOf", {"allOf": [obj({"name": S(), "kind": {"enum": ["cat", "dog"]}}, ["name", "kind"])], "type": "object"}, "A pet."),
    ("nullable", "type list with null", obj({"middle_name": {"type": ["string", "null"], "maxLength": 20}, "first": S()}), "Ada Lovelace's names."),
    ("anyof_null", "anyOf with null (OpenAI optional)", obj({"due": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}, "task": S()}), "A task without a due date."),
    ("mixed_enum", "enum of mixed types", one("answer", {"enum": ["yes", "no", 1, 0, None, True]}), "Is water wet?"),
    ("const_obj", "const object", one("origin", {"const": {"x": 0, "y": 0}}), "The origin."),
    ("shape", "anyOf of objects", one("shape", {"anyOf": [obj({"kind": {"const": "circle"}, "r": {"type": "number", "minimum": 0, "maximum": 100}}), obj({"kind": {"const": "square"}, "side": {"type": "number", "minimum": 0, "maximum": 100}})]}), "A small circle."),
    # $ref, $defs, recursion
    ("refs", "$ref/$defs", {"type": "object", "$defs": {"addr": ADDRESS}, "properties": {"billing": {"$ref": "#/$defs/addr"}, "shipping": {"$ref": "#/$defs/addr"}}, "required": ["billing", "shipping"], "additionalProperties": False}, "Billing and shipping addresses."),
    ("definitions", "definitions (draft 7)", {"type": "object", "definitions": {"money": obj({"amount": {"type": "number", "minimum": 0, "maximum": 10000}, "currency": {"enum": ["EUR", "USD"]}})}, "properties": {"price": {"$ref": "#/definitions/money"}}, "required": ["price"], "additionalProperties": False}, "The price of a bike."),
    ("tree", "recursion", {"type": "object", "$defs": {"node": {"type": "object", "properties": {"name": S(12), "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}}, "required": ["name"], "additionalProperties": False}}, "properties": {"root": {"$ref": "#/$defs/node"}}, "required": ["root"], "additionalProperties": False}, "A small family tree."),
    ("thread", "recursion through a list", {"type": "object", "$defs": {"c": obj({"text": S(30), "replies": {"type": "array", "items": {"$ref": "#/$defs/c"}, "maxItems": 1}}, ["text"])}, "properties": {"comment": {"$ref": "#/$defs/c"}}, "required": ["comment"], "additionalProperties": False}, "A comment with a reply."),
    # shapes from real APIs
    ("calendar_event", "real: calendar event", obj({"title": S(40), "start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"}, "attendees": {"type": "array", "items": EMAIL, "maxItems": 3}, "location": S(30)}, ["title", "start", "end"]), "A team lunch next Friday."),
    ("invoice", "real: invoice", obj({"number": {"type": "string", "pattern": "^INV-[0-9]{4}$"}, "date": {"type": "string", "format": "date"}, "currency": {"enum": ["EUR", "USD", "GBP"]}, "items": {"type": "array", "items": obj({"description": S(30), "qty": {"type": "integer", "minimum": 1, "maximum": 100}, "unit_price": {"type": "number", "minimum": 0, "maximum": 10000}}), "minItems": 1, "maxItems": 3}, "total": {"type": "number", "minimum": 0, "maximum": 1000000}}), "An invoice for two hours of consulting."),
    ("github_issue", "real: GitHub issue", obj({"title": S(60), "body": S(120), "labels": {"type": "array", "items": {"enum": ["bug", "feature", "docs", "question"]}, "maxItems": 2}, "assignees": {"type": "array", "items": {"type": "string", "pattern": "^[a-z0-9-]{1,20}$"}, "maxItems": 2}, "state": {"enum": ["open", "closed"]}, "milestone": {"type": ["integer", "null"], "minimum": 1, "maximum": 99}}), "An issue about a crash on startup."),
    ("k8s", "real: Kubernetes-like spec", obj({"apiVersion": {"const": "apps/v1"}, "kind": {"const": "Deployment"}, "metadata": obj({"name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,30}$"}, "labels": {"type": "object", "additionalProperties": S(16), "maxProperties": 2}}), "spec": obj({"replicas": {"type": "integer", "minimum": 1, "maximum": 10}, "containers": {"type": "array", "items": obj({"name": {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,20}$"}, "image": S(40), "ports": {"type": "array", "items": obj({"containerPort": {"type": "integer", "minimum": 1, "maximum": 65535}}), "maxItems": 2}}), "minItems": 1, "maxItems": 2}})}), "A deployment of nginx with 2 replicas."),
    ("profile", "real: user profile", obj({"id": {"type": "string", "format": "uuid"}, "email": EMAIL, "created": {"type": "string", "format": "date-time"}, "age": {"type": "integer", "minimum": 13, "maximum": 120}, "website": {"type": "string", "format": "uri", "maxLength": 50}}), "A profile for Carol."),
    ("weather", "real: weather report", obj({"city": S(20), "temp_c": {"type": "number", "minimum": -90, "maximum": 60}, "conditions": {"enum": ["sunny", "cloudy", "rain", "snow"]}, "wind_kmh": {"type": "integer", "minimum": 0, "maximum": 400}, "forecast": {"type": "array", "items": obj({"day": {"type": "string", "format": "date"}, "high": INT, "low": INT}), "maxItems": 2}}), "Weather in Oslo."),
    ("flight", "real: flight booking", obj({"from": {"type": "string", "pattern": "^[A-Z]{3}$"}, "to": {"type": "string", "pattern": "^[A-Z]{3}$"}, "date": {"type": "string", "format": "date"}, "passengers": {"type": "integer", "minimum": 1, "maximum": 9}, "class": {"enum": ["economy", "business", "first"]}}), "Book a flight from Rome to Oslo for two."),
    ("server", "real: server config", obj({"host": {"type": "string", "format": "hostname", "maxLength": 30}, "ip": {"type": "string", "format": "ipv4"}, "port": {"type": "integer", "minimum": 1, "maximum": 65535}, "tls": {"type": "boolean"}}), "A config for a web server."),
    ("contact_list", "real: nested arrays of objects", one("contacts", {"type": "array", "items": obj({"name": S(20), "phones": {"type": "array", "items": {"type": "string", "pattern": "^\\+[0-9]{6,12}$"}, "maxItems": 2}}), "minItems": 1, "maxItems": 2}), "Two contacts with phone numbers."),
    ("payment", "real: payment intent", obj({"amount": {"type": "integer", "minimum": 1, "maximum": 1000000}, "currency": {"type": "string", "pattern": "^[a-z]{3}$"}, "capture": {"enum": ["automatic", "manual"]}, "metadata": {"type": "object", "additionalProperties": S(20), "maxProperties": 2}}), "A payment of 20 euros."),
    ("log_entry", "real: log entry", obj({"ts": {"type": "string", "format": "date-time"}, "level": {"enum": ["debug", "info", "warn", "error"]}, "msg": S(60), "host": {"type": "string", "format": "ipv4"}}), "A log line for a failed login."),
    ("recipe", "real: recipe", obj({"name": S(30), "servings": {"type": "integer", "minimum": 1, "maximum": 12}, "ingredients": {"type": "array", "items": obj({"item": S(20), "grams": {"type": "number", "minimum": 0, "maximum": 5000}}), "minItems": 1, "maxItems": 3}, "vegan": {"type": "boolean"}}), "A pancake recipe."),
    ("any_json", "empty object schema", {"type": "object", "maxProperties": 0}, "Nothing."),
]

# (name, keyword the 400 must name, schema)
REFUSED: list[tuple[str, str, Schema]] = [
    ("unique", "uniqueItems", one("ids", {"type": "array", "items": INT, "uniqueItems": True})),
    ("contains", "contains", one("ids", {"type": "array", "items": INT, "contains": {"const": 1}})),
    ("property_names", "propertyNames", one("m", {"type": "object", "propertyNames": {"pattern": "^a"}})),
    ("dependent", "dependentRequired", obj({"a": INT, "b": INT}, [], dependentRequired={"a": ["b"]})),
    ("conditional", "if", {**obj({"a": INT}, []), "if": {"required": ["a"]}, "then": {"maxProperties": 1}}),
    ("negation", "not", one("a", {"not": {"type": "string"}})),
    ("unknown_format", "format", one("a", {"type": "string", "format": "credit-card"})),
    ("overlapping_oneof", "oneOf", one("a", {"oneOf": [S(), {"type": "string", "maxLength": 3}]})),
    ("unevaluated", "unevaluatedProperties", {"type": "object", "unevaluatedProperties": False}),
    ("lookaround", "pattern", one("a", {"type": "string", "pattern": "^(?!x)[a-z]+$"})),
]
