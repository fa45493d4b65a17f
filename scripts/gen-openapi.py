#!/usr/bin/env python3
"""Writes docs/openapi.json, the OpenAPI 3 description of `keycast server`'s
HTTP API. The route table below must match the routes the server registers:
src/api/api_test.cc fails when they differ. Run after changing a route:

    python3 scripts/gen-openapi.py > docs/openapi.json
"""
import json

NAME = {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"}
TIME = {"type": "string", "format": "date-time"}

SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string", "enum": [
                "invalid_argument", "not_found", "already_exists", "failed_precondition",
                "unauthenticated", "permission_denied", "resource_exhausted", "deadline_exceeded",
                "unavailable", "data_loss", "internal"]},
            "message": {"type": "string"}}}}},
    "ClientCreate": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
        "name": NAME, "description": {"type": "string", "maxLength": 1024},
        "password": {"type": "string", "minLength": 8, "maxLength": 1024},
        "enabled": {"type": "boolean", "default": True}}},
    "ClientPatch": {"type": "object", "additionalProperties": False, "properties": {
        "name": NAME, "description": {"type": "string", "maxLength": 1024},
        "password": {"type": "string", "description": "empty string removes password login"},
        "enabled": {"type": "boolean"}}},
    "Client": {"type": "object", "properties": {
        "name": NAME, "description": {"type": "string"}, "enabled": {"type": "boolean"},
        "password_set": {"type": "boolean"},
        "groups": {"type": "array", "items": {"type": "object", "properties": {
            "group": NAME, "role": {"type": "string", "enum": ["sender", "receiver"]}}}},
        "created_at": TIME, "updated_at": TIME}},
    "GroupCreate": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
        "name": NAME, "description": {"type": "string", "maxLength": 1024},
        "parents": {"type": "array", "items": NAME}}},
    "GroupPatch": {"type": "object", "additionalProperties": False, "properties": {
        "name": NAME, "description": {"type": "string", "maxLength": 1024}}},
    "Group": {"type": "object", "properties": {
        "name": NAME, "description": {"type": "string"}, "parents": {"type": "array", "items": NAME},
        "children": {"type": "array", "items": NAME}, "events": {"type": "array", "items": NAME},
        "members": {"type": "integer"}, "created_at": TIME, "updated_at": TIME}},
    "Edge": {"type": "object", "additionalProperties": False, "required": ["parent", "child"],
             "properties": {"parent": NAME, "child": NAME}},
    "Schedule": {"type": "object", "additionalProperties": False, "required": ["start", "duration"],
                 "properties": {
                     "start": {"oneOf": [TIME, {"type": "integer", "description": "Unix seconds"}]},
                     "duration": {"oneOf": [{"type": "string", "example": "PT2H"}, {"type": "integer"}]},
                     "rrule": {"type": "string", "maxLength": 255, "example": "FREQ=WEEKLY;BYDAY=MO,WE"}}},
    "EventWrite": {"type": "object", "additionalProperties": False, "properties": {
        "name": NAME, "title": {"type": "string", "maxLength": 200}, "sender": NAME,
        "group_address": {"type": "string", "description": "IPv4 or IPv6 multicast address"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
        "source_address": {"type": "string"}, "schedule": {"$ref": "#/components/schemas/Schedule"},
        "interval_seconds": {"type": "integer", "minimum": 1, "default": 60},
        "initial_keying_seconds": {"type": "integer", "minimum": 0, "default": 300},
        "clear_intervals": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 0},
        "key_servers": {"type": "array", "maxItems": 8, "items": {"type": "string", "example": "127.0.0.1:7400"}},
        "algorithm": {"type": "string", "enum": ["aes-256-gcm", "chacha20-poly1305"]},
        "delivery": {"type": "string", "enum": ["pull", "push", "both"]}}},
    "Event": {"type": "object", "properties": {
        "name": NAME, "title": {"type": "string"}, "sender": {"type": "string"},
        "group_address": {"type": "string"}, "port": {"type": "integer"}, "source_address": {"type": "string"},
        "schedule": {"$ref": "#/components/schemas/Schedule"}, "interval_seconds": {"type": "integer"},
        "initial_keying_seconds": {"type": "integer"}, "clear_intervals": {"type": "integer"},
        "key_servers": {"type": "array", "items": {"type": "string"}}, "algorithm": {"type": "string"},
        "delivery": {"type": "string"}, "groups": {"type": "array", "items": NAME},
        "version": {"type": "integer"}, "created_at": TIME, "updated_at": TIME}},
    "Membership": {"type": "object", "additionalProperties": False, "required": ["client", "group"],
                   "properties": {"client": NAME, "group": NAME,
                                  "role": {"type": "string", "enum": ["sender", "receiver"], "default": "receiver"}}},
    "Assignment": {"type": "object", "additionalProperties": False, "required": ["event", "group"],
                   "properties": {"event": NAME, "group": NAME}},
    "TicketRequest": {"type": "object", "additionalProperties": False, "properties": {
        "client": NAME, "password": {"type": "string"}},
        "description": "Either these fields, or Authorization: Bearer kca_... and an empty object."},
    "WatchRequest": {"type": "object", "additionalProperties": False, "required": ["digest"], "properties": {
        "client": NAME, "password": {"type": "string"}, "digest": {"type": "string"},
        "timeout_seconds": {"type": "integer", "minimum": 0}}},
    "TicketReply": {"type": "object", "properties": {
        "ticket": {"type": "string", "format": "byte", "description": "docs/ticket-format.md"},
        "session_key": {"type": "string", "format": "byte"}, "issued_at": {"type": "integer"},
        "expires_at": {"type": "integer"}, "grant_digest": {"type": "string"}, "events": {"type": "integer"}}},
    "Description": {"type": "object", "additionalProperties": False,
                    "properties": {"description": {"type": "string", "maxLength": 1024}}},
}

# method, path, summary, admin, request schema, success status, response schema
ROUTES = [
    ("GET", "/v1/health", "Liveness and readiness", False, None, 200, None),
    ("GET", "/metrics", "Prometheus metrics (text format 0.0.4)", False, None, 200, None),
    ("GET", "/v1/openapi.json", "This document", False, None, 200, None),
    ("POST", "/v1/clients", "Create a client", True, "ClientCreate", 201, "Client"),
    ("GET", "/v1/clients", "List clients (?after=name&limit=n)", True, None, 200, None),
    ("GET", "/v1/clients/{name}", "Read a client", True, None, 200, "Client"),
    ("PATCH", "/v1/clients/{name}", "Modify a client", True, "ClientPatch", 200, "Client"),
    ("DELETE", "/v1/clients/{name}", "Delete a client", True, None, 204, None),
    ("GET", "/v1/clients/{name}/events", "The client's event summary over the group DAG", True, None, 200, None),
    ("POST", "/v1/clients/{name}/api-keys", "Create an API key for a client (shown once)", True, "Description", 201, None),
    ("GET", "/v1/clients/{name}/api-keys", "List a client's API keys", True, None, 200, None),
    ("DELETE", "/v1/clients/{name}/api-keys/{id}", "Revoke an API key", True, None, 204, None),
    ("POST", "/v1/groups", "Create a group", True, "GroupCreate", 201, "Group"),
    ("GET", "/v1/groups", "List groups (?after=name&limit=n)", True, None, 200, None),
    ("GET", "/v1/groups/{name}", "Read a group", True, None, 200, "Group"),
    ("PATCH", "/v1/groups/{name}", "Modify a group", True, "GroupPatch", 200, "Group"),
    ("DELETE", "/v1/groups/{name}", "Delete a group (and its edges, memberships, assignments)", True, None, 204, None),
    ("POST", "/v1/edges", "Add a parent -> child edge (refused if it closes a cycle)", True, "Edge", 201, "Edge"),
    ("GET", "/v1/edges", "List edges", True, None, 200, None),
    ("DELETE", "/v1/edges/{parent}/{child}", "Remove an edge", True, None, 204, None),
    ("POST", "/v1/events", "Create an event", True, "EventWrite", 201, "Event"),
    ("GET", "/v1/events", "List events (?after=name&limit=n)", True, None, 200, None),
    ("GET", "/v1/events/{name}", "Read an event", True, None, 200, "Event"),
    ("PATCH", "/v1/events/{name}", "Modify an event", True, "EventWrite", 200, "Event"),
    ("DELETE", "/v1/events/{name}", "Delete an event (key delivery stops)", True, None, 204, None),
    ("POST", "/v1/memberships", "Make a client a member of a group, as sender or receiver", True, "Membership", 201, "Membership"),
    ("GET", "/v1/memberships", "List memberships (?client=, ?group=)", True, None, 200, None),
    ("PATCH", "/v1/memberships/{client}/{group}", "Change the role of a membership", True, "Membership", 200, "Membership"),
    ("DELETE", "/v1/memberships/{client}/{group}", "Remove a client from a group", True, None, 204, None),
    ("POST", "/v1/assignments", "Assign an event to a group", True, "Assignment", 201, "Assignment"),
    ("GET", "/v1/assignments", "List assignments (?event=, ?group=)", True, None, 200, None),
    ("DELETE", "/v1/assignments/{event}/{group}", "Unassign an event from a group", True, None, 204, None),
    ("POST", "/v1/admin-tokens", "Create an admin token (shown once)", True, "Description", 201, None),
    ("GET", "/v1/admin-tokens", "List admin tokens", True, None, 200, None),
    ("DELETE", "/v1/admin-tokens/{id}", "Revoke an admin token", True, None, 204, None),
    ("GET", "/v1/audit", "Read the append-only audit log (?after=seq&limit=n)", True, None, 200, None),
    ("POST", "/v1/tickets", "Authenticate and get a signed ticket", False, "TicketRequest", 200, "TicketReply"),
    ("POST", "/v1/tickets/watch", "Long-poll for a fresh ticket once the client's events change (204 at timeout)", False, "WatchRequest", 200, "TicketReply"),
    ("GET", "/v1/ticket-keys", "Published verification keys (ticket-signing and rekey-signing)", False, None, 200, None),
    ("POST", "/v1/events/{name}/rekey", "Rekey: a new key generation (new key and SPI) for the authorised members only; agents are woken to fetch it when it comes into force", True, None, 200, None),
    ("POST", "/v1/events/{name}/rotate-secret", "Replace the event secret (after a compromise) and rekey; the old secret is erased after the grace", True, None, 200, None),
    ("POST", "/v1/service-keys/{kind}/rotate", "Rotate a service key; older versions stay valid for the retention", True, None, 200, None),
]

ERR = {"description": "Error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
RETRY = {"Retry-After": {"description": "Seconds until a retry may succeed", "schema": {"type": "integer"}}}
# Answers with Retry-After, by path (docs/limits.md): password attempts
# refused by the login limiter (429), long-polls over their cap (503).
RETRY_CODES = {"/v1/tickets": ["429"], "/v1/tickets/watch": ["429", "503"]}


def operation(method, path, summary, admin, req, status, resp):
    op = {"summary": summary, "responses": {}}
    params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    if req:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/" + req}}}}
    ok = {"description": "Success"}
    if resp:
        ok["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/" + resp}}}
    op["responses"][str(status)] = ok
    for code in (["400", "401", "404", "409", "413"] if admin or req else ["400"]):
        op["responses"][code] = ERR
    for code in RETRY_CODES.get(path, []):
        op["responses"][code] = dict(ERR, headers=RETRY)
    op["security"] = [{"adminToken": []}] if admin else []
    return op


def main():
    paths = {}
    for r in ROUTES:
        paths.setdefault(r[1], {})[r[0].lower()] = operation(*r)
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "Keycast", "version": "0.1.0",
                 "description": "Directory, tickets and keys for secure multicast. Errors are "
                                "{\"error\":{\"code\",\"message\"}}; see docs/api.md."},
        "paths": paths,
        "components": {"schemas": SCHEMAS, "securitySchemes": {
            "adminToken": {"type": "http", "scheme": "bearer", "description": "kct_<id>_<secret>"},
            "apiKey": {"type": "http", "scheme": "bearer", "description": "client API key kca_<id>_<secret>"}}},
    }
    print(json.dumps(doc, indent=1, sort_keys=False))


if __name__ == "__main__":
    main()
