#!/usr/bin/env python3
"""A stand-in for Discord, Telegram, generic webhooks and the Supabase
Management API, on 127.0.0.1.

supamon's tests must never reach the internet, so they point its alert
channels (and its Management API base URL) at this server.  It answers the
way the real services do (shapes of bodies, status codes, rate-limit
headers), records every request as one JSON line, and can be told to
misbehave: errors, 429s, hangs, garbage, huge bodies.

    receiver.py --portfile FILE --record FILE [--port N] [--print]
                [--discord-limit 5/2] [--telegram-limit 1/1]
                [--api-limit 120/60] [--max-seconds N]

Routes (any method other than POST gets 405, recorded):
    POST /api/webhooks/<id>/<token>       Discord (also /api/v10/webhooks/...);
                                          204, or 200 + message with ?wait=true
    POST /bot<token>/sendMessage          Telegram
    GET, POST or HEAD /ping...            a heartbeat (Healthchecks-style ping
                                          URL, kind "heartbeat"): 200 {"ok":true}
    POST anything else                    generic webhook: 200 {"ok":true}
Management API (kind "management_api": every path under /v1/; GET only, any
other method gets 405, recorded).  Each needs "Authorization: Bearer <token>":
no header or a wrong token 401 {"message":"Unauthorized"}; a ref not in the
state 404 {"message":"Project not found"}; a forbidden ref 403
{"message":"Forbidden resource"}; an unknown route 404 "Cannot GET ...".
    GET /v1/projects/<ref>                200 {"id","ref","organization_id",
                                          "name","region","created_at","status"}
    GET /v1/projects/<ref>/functions      200 [{"id","slug","name","status",
                                          "version","created_at","updated_at"
                                          (epoch ms),"verify_jwt","import_map",
                                          "entrypoint_path"}]
    GET /v1/projects/<ref>/analytics/endpoints/functions.combined-stats
        ?interval=15min|1hr|3hr|1day&function_id=<id>
                                          200 {"result": [3 one-minute rows
                                          ending now], "error": null}; the
                                          rows' counts add up to the state's
                                          totals; [] for a function id the ref
                                          does not have, or without "stats";
                                          400 without interval/function_id
    --api-limit N/SECONDS: a fixed window per ref over /v1/projects/<ref>...
    (opened by the first request; programmed answers and 429s do not count);
    over it 429 {"message":"Too many requests"} with Retry-After.  While set,
    every answer the API gives itself carries X-RateLimit-Limit, -Remaining
    and -Reset (whole seconds until the window resets).
Control (not recorded):
    POST /_control {"match": "<substring of the path>", "behaviours": [...],
                    "repeat_last": false}
        queues behaviours for requests whose path contains "match"; one is
        consumed per matching request.  A new control with the same match
        replaces the old queue; different matches coexist (first one given
        wins when several match).  Behaviours apply to POSTs, and to GETs
        under /v1/ (whose "match" is tested on path and query string).
    POST /_api     the whole Management API state (replaced; not recorded):
        {"token": "sbp_...",
         "projects": {"<ref>": {"status": "ACTIVE_HEALTHY",
             "forbidden": false,   (true: the token gets 403 on this ref;
                                    or a list of other tokens that get 403)
             "name", "region", "organization_id", "created_at": optional,
             "functions": [{"slug": "hello", optional "id" (default uuid5 of
                  ref/slug), "name", "status" (ACTIVE), "version" (1),
                  "created_at", "updated_at", "verify_jwt", "import_map",
                  "entrypoint_path"}],
             "stats": {"<slug or id>": {"requests": R, "server_errors": S,
                                        "client_errors": C}}}}}
        400 if malformed.  The token is never written to the record or log.
    POST /_api_patch  merge: "token" replaces the token, each project given
        replaces that project's entry (null removes it), others stay.
    POST /_reset   forget behaviours and rate-limit windows (not the record,
                   nor the API state)
    GET  /_stats   {"total": n, "by_kind": {"discord": {"204": 3}, ...}}
Behaviours: {"status": N[, "retry_after": s]}, {"hang": s}, {"garbage": true},
    {"big": bytes}, {"migrate_to_chat_id": id}, {"delay": s}.  "delay" can be
    combined with any other; alone it delays a normal answer.

A request that hangs is recorded when it arrives (status and done null), so a
test can see it without waiting for the hang to end; every other request is
recorded once answered.  A management_api entry's "path" includes the query
string ("query" holds it too); it has "auth" (an Authorization header came)
and "auth_ok" (it was "Bearer <the token>"); its authorization header is
recorded as "Bearer [redacted]", and any token ever set is scrubbed from it.
"""

import argparse
import base64
import hashlib
import html
import json
import math
import os
import re
import signal
import socketserver
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DISCORD_RE = re.compile(r"^/api(?:/v\d+)?/webhooks/([^/]+)/([^/]+)/?$")
TELEGRAM_RE = re.compile(r"^/bot([^/]*)/sendMessage/?$")
# Real tokens are "<bot id>:<35 characters>"; tests may use shorter ones.
TELEGRAM_TOKEN_RE = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")
MGMT_PREFIX = "/v1/"
MGMT_RE = re.compile(r"^/v1/projects/([^/]+)(/.*)?$")
STATS_ROUTE = "/analytics/endpoints/functions.combined-stats"
STATS_INTERVALS = ("15min", "1hr", "3hr", "1day")
# Fixed times, so that answers are the same from one run to the next.
MGMT_CREATED_AT = "2026-01-01T00:00:00Z"
MGMT_FUNCTION_MS = 1767225600000  # 2026-01-01T00:00:00Z in epoch milliseconds


def parse_limit(text):
    """'5/2' -> (5, 2.0): so many requests per so many seconds."""
    if text is None:
        return None
    count, _, seconds = text.partition("/")
    limit = (int(count), float(seconds or 1))
    if limit[0] < 1 or limit[1] <= 0:
        raise argparse.ArgumentTypeError("limit must be N/SECONDS, N >= 1")
    return limit


class FixedWindows:
    """Fixed-window rate limits by key: a window opens with the first request
    and lasts `seconds`, like Discord's reset-after.  Requests refused do not
    count.  take() returns (allowed, remaining, window end)."""

    def __init__(self, limit):
        self.count, self.seconds = limit
        self.lock = threading.Lock()
        self.windows = {}  # key -> [start, used]

    def take(self, key, now):
        with self.lock:
            window = self.windows.get(key)
            if window is None or now >= window[0] + self.seconds:
                window = self.windows[key] = [now, 0]
            end = window[0] + self.seconds
            if window[1] >= self.count:
                return False, 0, end
            window[1] += 1
            return True, self.count - window[1], end

    def reset(self):
        with self.lock:
            self.windows.clear()


class State:
    """What all handler threads share: behaviours, limits, record, counters."""

    def __init__(self, args):
        self.lock = threading.Lock()  # behaviours, seq, stats, record, stdout
        self.controls = []  # [{"match", "queue", "repeat_last", "last"}]
        self.seq = 0
        self.stats = {}
        self.record = open(args.record, "a", encoding="utf-8")
        self.print = args.print
        self.discord_limit = FixedWindows(args.discord_limit) if args.discord_limit else None
        self.telegram_limit = FixedWindows(args.telegram_limit) if args.telegram_limit else None
        self.message_ids = {}  # chat id -> last Telegram message_id
        self.snowflake = 1100000000000000000
        self.api_limit = FixedWindows(args.api_limit) if args.api_limit else None
        self.api = {"token": None, "projects": {}}  # replaced whole, never changed
        self.api_tokens = set()  # every token ever set: scrubbed from the record

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def control(self, spec):
        match = spec.get("match")
        behaviours = spec.get("behaviours")
        if not isinstance(match, str) or not isinstance(behaviours, list) or \
                not all(isinstance(b, dict) for b in behaviours):
            raise ValueError("want {\"match\": str, \"behaviours\": [objects]}")
        with self.lock:
            self.controls = [c for c in self.controls if c["match"] != match]
            self.controls.append({"match": match, "queue": list(behaviours),
                                  "repeat_last": bool(spec.get("repeat_last")),
                                  "last": None})

    def take_behaviour(self, path):
        with self.lock:
            for c in self.controls:
                if c["match"] not in path:
                    continue
                if c["queue"]:
                    c["last"] = c["queue"].pop(0)
                    return c["last"]
                if c["repeat_last"] and c["last"] is not None:
                    return c["last"]
            return None

    def reset(self):
        with self.lock:
            self.controls = []
        for limits in (self.discord_limit, self.telegram_limit, self.api_limit):
            if limits:
                limits.reset()

    def set_api(self, spec, patch=False):
        """POST /_api (replace) or /_api_patch (merge); ValueError if bad."""
        if not isinstance(spec, dict):
            raise ValueError("want a JSON object")
        unknown = set(spec) - {"token", "projects"}
        if unknown:
            raise ValueError(f"unknown keys: {sorted(unknown)}")
        token = spec.get("token")
        if token is not None and not isinstance(token, str):
            raise ValueError("token must be a string")
        projects = spec.get("projects") or {}
        if not isinstance(projects, dict):
            raise ValueError("projects must be an object keyed by ref")
        parsed = {ref: (None if p is None and patch else api_project(ref, p))
                  for ref, p in projects.items()}
        with self.lock:
            if token:
                self.api_tokens.add(token)
            for p in parsed.values():  # the other accounts' tokens too
                if p and isinstance(p["forbidden"], list):
                    self.api_tokens.update(t for t in p["forbidden"] if t)
            if not patch:
                self.api = {"token": token, "projects": parsed}
                return
            merged = dict(self.api["projects"])
            for ref, p in parsed.items():
                if p is None:
                    merged.pop(ref, None)
                else:
                    merged[ref] = p
            self.api = {"token": token if "token" in spec else self.api["token"],
                        "projects": merged}

    def api_now(self):
        with self.lock:
            return self.api

    def scrub(self, value):
        """value with every token ever set replaced (strings, lists, dicts).
        Tokens shorter than 6 characters are left: they would mangle all."""
        with self.lock:
            tokens = [t for t in self.api_tokens if len(t) >= 6]
        def walk(v):
            if isinstance(v, str):
                for t in tokens:
                    v = v.replace(t, "[redacted]")
                return v
            if isinstance(v, list):
                return [walk(x) for x in v]
            if isinstance(v, dict):
                return {k: walk(x) for k, x in v.items()}
            return v
        return walk(value) if tokens else value

    def next_message_id(self, chat):
        with self.lock:
            self.message_ids[chat] = self.message_ids.get(chat, 0) + 1
            return self.message_ids[chat]

    def next_snowflake(self):
        with self.lock:
            self.snowflake += 1
            return str(self.snowflake)

    def write(self, entry):
        line = json.dumps(entry) + "\n"
        with self.lock:
            if entry["status"] is not None:
                by_kind = self.stats.setdefault(entry["kind"], {})
                by_kind[str(entry["status"])] = by_kind.get(str(entry["status"]), 0) + 1
            self.record.write(line)
            self.record.flush()

    def show(self, entry):
        """--print: the message, readable, for people watching a demo."""
        if not self.print:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(entry["t"]))
        try:
            lines = readable(entry)
        except (TypeError, AttributeError):  # an odd shape: show it raw
            lines = [str(entry.get("body"))[:500]]
        with self.lock:
            answer = entry["status"] or f"hangs {entry['behaviour'].get('hang')} s"
            print(f"{stamp} {entry['kind']} {entry['path']} -> {answer}")
            for line in lines:
                print("    " + line)
            sys.stdout.flush()

    def stats_json(self):
        with self.lock:
            total = sum(n for k in self.stats.values() for n in k.values())
            return {"total": total, "by_kind": {k: dict(v) for k, v in self.stats.items()}}


def readable(entry):
    """Lines of text showing what a message says."""
    msg = entry.get("json")
    if not isinstance(msg, dict):
        body = entry.get("body")
        return [body[:500]] if body else []
    out = []
    if entry["kind"] == "discord":
        if msg.get("content"):
            out += str(msg["content"]).splitlines()
        for embed in msg.get("embeds") or []:
            if not isinstance(embed, dict):
                continue
            if embed.get("title"):
                out.append("## " + str(embed["title"]))
            if embed.get("description"):
                out += str(embed["description"]).splitlines()
            for field in embed.get("fields") or []:
                if isinstance(field, dict):
                    value = str(field.get("value", "")).splitlines() or [""]
                    out.append(f"{field.get('name', '')}: {value[0]}")
                    out += ["  " + v for v in value[1:]]
            footer = embed.get("footer")
            if isinstance(footer, dict) and footer.get("text"):
                out.append("-- " + str(footer["text"]))
    elif entry["kind"] == "telegram":
        text = re.sub(r"<[^>]*>", "", str(msg.get("text", "")))
        out += html.unescape(text).splitlines()
    else:
        for key in ("event", "project", "job", "reason"):
            if key in msg:
                out.append(f"{key}: {msg[key]}")
        if not out:
            out.append(json.dumps(msg)[:500])
    return out


def api_project(ref, p):
    """A project of the /_api state, checked, its functions' defaults filled."""
    if not isinstance(p, dict):
        raise ValueError(f"project {ref!r}: want an object")
    unknown = set(p) - {"status", "forbidden", "functions", "stats", "name",
                        "region", "organization_id", "created_at"}
    if unknown:
        raise ValueError(f"project {ref!r}: unknown keys {sorted(unknown)}")
    forbidden = p.get("forbidden", False)
    if isinstance(forbidden, list):
        if not all(isinstance(t, str) for t in forbidden):
            raise ValueError(f"project {ref!r}: forbidden: want a bool or a list of tokens")
        forbidden = list(forbidden)
    else:
        forbidden = bool(forbidden)
    functions = p.get("functions") or []
    if not isinstance(functions, list):
        raise ValueError(f"project {ref!r}: functions must be a list")
    out_functions = []
    for f in functions:
        if not isinstance(f, dict) or not isinstance(f.get("slug"), str) or not f["slug"]:
            raise ValueError(f"project {ref!r}: each function needs a \"slug\"")
        slug = f["slug"]
        try:
            fn = {"id": str(f.get("id") or uuid.uuid5(uuid.NAMESPACE_URL,
                                                       f"supamon-receiver/{ref}/{slug}")),
                  "slug": slug,
                  "name": str(f.get("name") or slug),
                  "status": str(f.get("status") or "ACTIVE"),
                  "version": int(f.get("version", 1)),
                  "created_at": int(f.get("created_at", MGMT_FUNCTION_MS)),
                  "updated_at": int(f.get("updated_at", MGMT_FUNCTION_MS + 3600000)),
                  "verify_jwt": bool(f.get("verify_jwt", True)),
                  "import_map": bool(f.get("import_map", False)),
                  "entrypoint_path": str(f.get("entrypoint_path") or
                                         f"file:///tmp/supabase/functions/{slug}/index.ts")}
        except (TypeError, ValueError):
            raise ValueError(f"project {ref!r}: function {slug!r}: version, "
                             "created_at and updated_at must be integers")
        out_functions.append(fn)
    stats = p.get("stats") or {}
    if not isinstance(stats, dict):
        raise ValueError(f"project {ref!r}: stats must be an object keyed by slug")
    out_stats = {}
    for key, totals in stats.items():
        try:
            r, s, c = (int((totals or {}).get(k, 0))
                       for k in ("requests", "server_errors", "client_errors"))
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"project {ref!r}: stats {key!r}: want integer "
                             "requests, server_errors, client_errors")
        if min(r, s, c) < 0 or s + c > r:
            raise ValueError(f"project {ref!r}: stats {key!r}: want 0 <= "
                             "server_errors + client_errors <= requests")
        out_stats[key] = (r, s, c)
    project = {"status": str(p.get("status") or "ACTIVE_HEALTHY"),
               "forbidden": forbidden, "functions": out_functions, "stats": out_stats}
    for key in ("name", "region", "organization_id", "created_at"):
        if key in p:
            project[key] = p[key]
    return project


def split3(n):
    """n in three whole parts, oldest first, that add up to n (the newest
    parts take the remainder)."""
    return [n // 3 + (1 if i >= 3 - n % 3 else 0) for i in range(3)]


def discord_problems(msg):
    """Discord's 400 for a message it would refuse, or None.  Only the limits
    supamon has to respect: empty message, 2000-character content, 10 embeds,
    embed title 256, description 4096, 25 fields of 256/1024, 6000 in all."""
    if not isinstance(msg, dict):
        return {"message": "The request body contains invalid JSON.", "code": 50109}
    content = msg.get("content") or ""
    embeds = msg.get("embeds") or []
    if not content and not embeds:
        return {"message": "Cannot send an empty message", "code": 50006}
    errors = {}
    if len(str(content)) > 2000:
        errors["content"] = "Must be 2000 or fewer in length."
    if not isinstance(embeds, list) or len(embeds) > 10:
        errors["embeds"] = "Must be 10 or fewer in length."
        embeds = []
    total = 0
    for i, embed in enumerate(embeds):
        if not isinstance(embed, dict):
            errors[f"embeds.{i}"] = "Must be an object."
            continue
        for key, most in (("title", 256), ("description", 4096)):
            n = len(str(embed.get(key) or ""))
            total += n
            if n > most:
                errors[f"embeds.{i}.{key}"] = f"Must be {most} or fewer in length."
        fields = embed.get("fields") or []
        if not isinstance(fields, list):
            errors[f"embeds.{i}.fields"] = "Must be an array."
            fields = []
        if len(fields) > 25:
            errors[f"embeds.{i}.fields"] = "Must be 25 or fewer in length."
        for j, field in enumerate(fields):
            for key, most in (("name", 256), ("value", 1024)):
                n = len(str(field.get(key) or "")) if isinstance(field, dict) else 0
                total += n
                if n > most:
                    errors[f"embeds.{i}.fields.{j}.{key}"] = f"Must be {most} or fewer in length."
        footer = embed.get("footer")
        total += len(str(footer.get("text") or "")) if isinstance(footer, dict) else 0
    if total > 6000:
        errors["embeds"] = "Embed size exceeds maximum size of 6000"
    if errors:
        return {"message": "Invalid Form Body", "code": 50035, "errors": errors}
    return None


class Answer:
    """One response: status, headers, body (bytes), or a streamed big body."""

    def __init__(self, status, body=None, headers=None, content_type="application/json"):
        self.status = status
        self.headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        self.body = body.encode("utf-8") if isinstance(body, str) else (body or b"")
        if self.body:
            self.headers.setdefault("Content-Type", content_type)
        self.big = None  # bytes to stream instead of body


def shaped_error(kind, status, text):
    if kind == "management_api":
        return Answer(status, {"message": text})
    if kind == "discord":
        return Answer(status, {"message": text, "code": 0})
    if kind == "telegram":
        return Answer(status, {"ok": False, "error_code": status, "description": text})
    return Answer(status, {"ok": False, "error": text})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: libcurl reuses connections
    # headers and body go in separate writes: with Nagle, the second waits
    # for the client's delayed ACK (40 ms a request)
    disable_nagle_algorithm = True
    server_version = "supamon-receiver/1"
    timeout = 120  # an idle keep-alive connection does not hold a thread forever

    def log_message(self, fmt, *args):
        pass  # the record file is the log

    def do_GET(self):
        self.handle_any()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def handle_any(self):
        state = self.server.state
        arrived = time.time()
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        body = self.read_body()

        if path in ("/_control", "/_reset", "/_stats", "/_api", "/_api_patch"):
            self.send(self.control(state, path, body))
            return

        kind = ("discord" if DISCORD_RE.match(path) else
                "telegram" if TELEGRAM_RE.match(path) else
                "management_api" if path.startswith(MGMT_PREFIX) else "webhook")
        entry = {"seq": state.next_seq(), "t": arrived, "done": None,
                 "method": self.command, "path": path, "query": url.query,
                 "headers": {}, "kind": kind, "status": None, "behaviour": None}
        for name, value in self.headers.items():
            name = name.lower()
            entry["headers"][name] = (entry["headers"][name] + ", " + value
                                      if name in entry["headers"] else value)
        # message: what the service understood (JSON, or a form for Telegram).
        message = None
        entry["json"] = None
        try:
            entry["body"] = body.decode("utf-8")
            message = json.loads(entry["body"])
            # A lone surrogate (\ud800) parses but cannot be re-encoded as
            # UTF-8, and JSON::PP refuses it: the record's json stays null.
            json.dumps(message, ensure_ascii=False).encode("utf-8")
            entry["json"] = message
        except UnicodeDecodeError:
            entry["body_b64"] = base64.b64encode(body).decode("ascii")
        except UnicodeEncodeError:
            pass
        except ValueError:
            if "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
                message = dict(urllib.parse.parse_qsl(entry["body"]))

        method = "POST"  # the one each service answers; others get 405
        match_path = path  # what /_control's "match" is looked for in
        token = None
        if kind == "webhook" and path.startswith("/ping"):
            # a Healthchecks-style ping URL: GET, POST or HEAD
            entry["kind"] = kind = "heartbeat"
            if self.command in ("GET", "POST", "HEAD"):
                method = self.command
        if kind == "management_api":
            method = "GET"
            auth = self.headers.get("Authorization")
            scheme, _, given = (auth or "").strip().partition(" ")
            token = given.strip() if scheme.lower() == "bearer" and given.strip() else None
            api_token = state.api_now()["token"]
            entry["auth"] = auth is not None
            entry["auth_ok"] = bool(token and api_token and token == api_token)
            if auth is not None:  # never the token itself
                entry["headers"]["authorization"] = (scheme + " [redacted]" if token
                                                     else "[redacted]")
            entry["path"] = match_path = path + ("?" + url.query if url.query else "")
            for key in ("path", "query", "body", "json", "headers"):
                entry[key] = state.scrub(entry[key])

        behaviour = state.take_behaviour(match_path) if self.command == method else None
        entry["behaviour"] = behaviour
        if behaviour and behaviour.get("delay"):
            time.sleep(float(behaviour["delay"]))
        if behaviour and behaviour.get("hang") is not None:
            state.write(entry)
            state.show(entry)
            time.sleep(float(behaviour["hang"]))
            self.close_connection = True  # then close without a word
            return

        answer = None
        if self.command != method:
            answer = shaped_error(kind, 405, "405: Method Not Allowed")
            if kind == "management_api":
                answer.headers["Allow"] = "GET"
        elif behaviour and set(behaviour) - {"delay"}:
            answer = self.misbehave(kind, behaviour)
        if answer is None:  # the service's own answer, rate limits included
            if kind == "discord":
                answer = self.discord(state, path, url.query, message, time.time())
            elif kind == "telegram":
                answer = self.telegram(state, path, message, time.time())
            elif kind == "management_api":
                answer = self.management(state, path, url.query, token, time.time())
            else:
                answer = Answer(200, {"ok": True})
        entry["status"] = answer.status
        try:
            self.send(answer)
        except OSError as e:  # the client went away mid-answer
            entry["client_error"] = str(e)
            self.close_connection = True
        entry["done"] = time.time()
        state.write(entry)
        state.show(entry)

    def control(self, state, path, body):
        if path == "/_stats":
            return Answer(200, state.stats_json())
        if self.command != "POST":
            return Answer(405, {"ok": False, "error": "POST it"})
        if path == "/_reset":
            state.reset()
            return Answer(200, {"ok": True})
        try:
            spec = json.loads(body or b"null")
            if path in ("/_api", "/_api_patch"):
                # errors never quote the token: it is checked first
                state.set_api(spec if spec is not None else {}, patch=path == "/_api_patch")
            else:
                state.control(spec or {})
        except (ValueError, AttributeError) as e:
            return Answer(400, {"ok": False, "error": str(e)})
        return Answer(200, {"ok": True})

    def misbehave(self, kind, b):
        """The programmed answer, or None for {"status": 200}: a normal one."""
        if "big" in b:
            answer = Answer(200, headers={"Content-Type": "application/json"})
            answer.big = int(b["big"])
            return answer
        if b.get("garbage"):
            if kind == "telegram":
                return Answer(200, "not json at all <html>", content_type="text/html")
            return Answer(200, "<html><body>502 Bad Gateway? {not json", content_type="text/html")
        if "migrate_to_chat_id" in b:
            return Answer(400, {"ok": False, "error_code": 400,
                                "description": "Bad Request: group chat was upgraded to a supergroup chat",
                                "parameters": {"migrate_to_chat_id": b["migrate_to_chat_id"]}})
        status = int(b.get("status", 500))
        if status == 200:
            return None
        if status == 429:
            return too_many(kind, float(b.get("retry_after", 1.0)), scope="shared")
        if status == 204:
            return Answer(204)
        return shaped_error(kind, status, b.get("message", f"{status}: programmed failure"))

    def discord(self, state, path, query, msg, now):
        webhook = "/".join(DISCORD_RE.match(path).groups())
        headers = {}
        if state.discord_limit:
            allowed, remaining, end = state.discord_limit.take(webhook, now)
            headers = {"X-RateLimit-Limit": str(state.discord_limit.count),
                       "X-RateLimit-Remaining": str(remaining),
                       "X-RateLimit-Reset": f"{end:.3f}",
                       "X-RateLimit-Reset-After": f"{max(end - now, 0):.3f}",
                       "X-RateLimit-Bucket": hashlib.sha256(webhook.encode()).hexdigest()[:32]}
            if not allowed:
                answer = too_many("discord", max(end - now, 0.001), scope="user")
                answer.headers.update({k: v for k, v in headers.items()
                                       if k not in answer.headers})
                return answer
        problem = discord_problems(msg)
        if problem:
            return Answer(400, problem, headers)
        if urllib.parse.parse_qs(query).get("wait", [""])[-1].lower() != "true":
            return Answer(204, headers=headers)
        return Answer(200, {"id": state.next_snowflake(), "type": 0,
                            "content": msg.get("content") or "",
                            "embeds": msg.get("embeds") or [],
                            "channel_id": "1000000000000000001",
                            "webhook_id": webhook.split("/")[0],
                            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(now))},
                      headers)

    def management(self, state, path, query, token, now):
        """The Supabase Management API: GET /v1/projects/<ref>[/...]."""
        m = MGMT_RE.match(path)
        if not m:
            return Answer(404, {"message": f"Cannot GET {path}", "error": "Not Found",
                                "statusCode": 404})
        ref, rest = m.group(1), (m.group(2) or "").rstrip("/")
        headers = {}
        if state.api_limit:
            allowed, remaining, end = state.api_limit.take(ref, now)
            reset = max(1, math.ceil(end - now))
            headers = {"X-RateLimit-Limit": str(state.api_limit.count),
                       "X-RateLimit-Remaining": str(remaining),
                       "X-RateLimit-Reset": str(reset)}
            if not allowed:
                answer = too_many("management_api", end - now)
                answer.headers.update(headers)
                return answer
        api = state.api_now()
        project = api["projects"].get(ref)
        forbidden = project["forbidden"] if project else False
        if not (token and api["token"] and token == api["token"]):
            if token and isinstance(forbidden, list) and token in forbidden:
                return Answer(403, {"message": "Forbidden resource"}, headers)
            return Answer(401, {"message": "Unauthorized"}, headers)
        if project is None:
            return Answer(404, {"message": "Project not found"}, headers)
        if forbidden is True:
            return Answer(403, {"message": "Forbidden resource"}, headers)

        if rest == "":
            body = {"id": ref, "ref": ref, "organization_id": "org1", "name": ref,
                    "region": "us-east-1", "created_at": MGMT_CREATED_AT,
                    "status": project["status"]}
            body.update({k: project[k] for k in ("name", "region", "organization_id",
                                                 "created_at") if k in project})
            return Answer(200, body, headers)
        if rest == "/functions":
            return Answer(200, [dict(f) for f in project["functions"]], headers)
        if rest == STATS_ROUTE:
            params = urllib.parse.parse_qs(query)
            interval = params.get("interval", [""])[-1]
            function_id = params.get("function_id", [""])[-1]
            if not interval or not function_id:
                return Answer(400, {"message": "function_id and interval are required parameters"},
                              headers)
            if interval not in STATS_INTERVALS:
                return Answer(400, {"message": "interval must be one of "
                                               + ", ".join(STATS_INTERVALS)}, headers)
            fn = next((f for f in project["functions"] if f["id"] == function_id), None)
            totals = fn and (project["stats"].get(fn["slug"]) or project["stats"].get(fn["id"]))
            if not totals:
                return Answer(200, {"result": [], "error": None}, headers)
            r, s, c = totals
            minute = int(now // 60) * 60
            rows = []
            for i, (ok, server, client) in enumerate(zip(split3(r - s - c), split3(s), split3(c))):
                rows.append({"timestamp": (minute - 60 * (2 - i)) * 1000000,
                             "requests_count": ok + server + client,
                             "success_count": ok, "redirect_count": 0,
                             "client_err_count": client, "server_err_count": server,
                             "avg_cpu_time_used": 1.5, "avg_memory_used": 10.2,
                             "avg_execution_time": 12.0, "max_execution_time": 40.0})
            return Answer(200, {"result": rows, "error": None}, headers)
        return Answer(404, {"message": f"Cannot GET {path}", "error": "Not Found",
                            "statusCode": 404}, headers)

    def telegram(self, state, path, msg, now):
        if not TELEGRAM_TOKEN_RE.match(TELEGRAM_RE.match(path).group(1)):
            return Answer(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        msg = msg if isinstance(msg, dict) else {}
        chat, text = msg.get("chat_id"), msg.get("text")
        if chat in (None, "") or not text:
            return Answer(400, {"ok": False, "error_code": 400,
                                "description": "Bad Request: message text is empty"})
        if len(str(text)) > 4096:
            return Answer(400, {"ok": False, "error_code": 400,
                                "description": "Bad Request: message is too long"})
        if state.telegram_limit:
            allowed, _, end = state.telegram_limit.take(str(chat), now)
            if not allowed:
                return too_many("telegram", end - now)
        return Answer(200, {"ok": True, "result": {
            "message_id": state.next_message_id(str(chat)),
            "chat": {"id": chat, "type": "supergroup" if str(chat).startswith("-") else "private"},
            "date": int(now), "text": text}})

    def send(self, answer):
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.big is not None:
            self.send_header("Content-Length", str(answer.big))
            self.end_headers()
            self.stream_big(answer.big)
            return
        if answer.status != 204:  # a 204 has no body and no Content-Length
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        self.wfile.flush()

    def stream_big(self, size):
        """A JSON string of `size` bytes ("xxx...x"), in 64 KiB chunks."""
        chunk = b"x" * 65536
        if size >= 2:
            self.wfile.write(b'"')
            left = size - 2
        else:
            left = size
        while left > 0:
            piece = chunk[:min(left, len(chunk))]
            self.wfile.write(piece)
            left -= len(piece)
        if size >= 2:
            self.wfile.write(b'"')
        self.wfile.flush()


def too_many(kind, retry_after, scope="user"):
    """A 429 the way each service says it."""
    seconds = max(1, math.ceil(retry_after))
    if kind == "discord":
        return Answer(429, {"message": "You are being rate limited.",
                            "retry_after": round(retry_after, 3), "global": False},
                      {"Retry-After": str(seconds),
                       "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                       "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Scope": scope})
    if kind == "telegram":
        return Answer(429, {"ok": False, "error_code": 429,
                            "description": f"Too Many Requests: retry after {seconds}",
                            "parameters": {"retry_after": seconds}})
    if kind == "management_api":
        return Answer(429, {"message": "Too many requests"},
                      {"Retry-After": str(seconds),
                       "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset": str(seconds)})
    return Answer(429, {"ok": False, "error": "Too Many Requests"}, {"Retry-After": str(seconds)})


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging answer never delays exit
    request_queue_size = 128

    def server_bind(self):
        # HTTPServer.server_bind asks DNS for our name (getfqdn): skip that.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--portfile", required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--print", action="store_true")
    p.add_argument("--discord-limit", type=parse_limit, metavar="N/SECONDS")
    p.add_argument("--telegram-limit", type=parse_limit, metavar="N/SECONDS")
    p.add_argument("--api-limit", type=parse_limit, metavar="N/SECONDS",
                   help="Management API requests per ref per window")
    p.add_argument("--max-seconds", type=float, default=3600)
    args = p.parse_args()

    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    threading.Thread(target=server.serve_forever, daemon=True).start()
    tmp = f"{args.portfile}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{server.server_port}\n")
    os.rename(tmp, args.portfile)  # readers never see a half-written port
    if args.print:
        print(f"receiver listening on http://127.0.0.1:{server.server_port}/", flush=True)

    stop.wait(args.max_seconds)
    server.shutdown()
    server.server_close()
    try:
        os.unlink(args.portfile)
    except OSError:
        pass
    server.state.record.close()


if __name__ == "__main__":
    main()
