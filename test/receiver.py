#!/usr/bin/env python3
"""A stand-in for Discord, Telegram and generic webhooks, on 127.0.0.1.

supamon's tests must never reach the internet, so they point its alert
channels at this server.  It answers the way the real services do (shapes of
bodies, status codes, rate-limit headers), records every request as one JSON
line, and can be told to misbehave: errors, 429s, hangs, garbage, huge bodies.

    receiver.py --portfile FILE --record FILE [--port N] [--print]
                [--discord-limit 5/2] [--telegram-limit 1/1] [--max-seconds N]

Routes (any method other than POST gets 405, recorded):
    POST /api/webhooks/<id>/<token>       Discord (also /api/v10/webhooks/...);
                                          204, or 200 + message with ?wait=true
    POST /bot<token>/sendMessage          Telegram
    POST anything else                    generic webhook: 200 {"ok":true}
Control (not recorded):
    POST /_control {"match": "<substring of the path>", "behaviours": [...],
                    "repeat_last": false}
        queues behaviours for requests whose path contains "match"; one is
        consumed per matching request.  A new control with the same match
        replaces the old queue; different matches coexist (first one given
        wins when several match).
    POST /_reset   forget behaviours and rate-limit windows (not the record)
    GET  /_stats   {"total": n, "by_kind": {"discord": {"204": 3}, ...}}
Behaviours: {"status": N[, "retry_after": s]}, {"hang": s}, {"garbage": true},
    {"big": bytes}, {"migrate_to_chat_id": id}, {"delay": s}.  "delay" can be
    combined with any other; alone it delays a normal answer.

A request that hangs is recorded when it arrives (status and done null), so a
test can see it without waiting for the hang to end; every other request is
recorded once answered.
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
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DISCORD_RE = re.compile(r"^/api(?:/v\d+)?/webhooks/([^/]+)/([^/]+)/?$")
TELEGRAM_RE = re.compile(r"^/bot([^/]*)/sendMessage/?$")
# Real tokens are "<bot id>:<35 characters>"; tests may use shorter ones.
TELEGRAM_TOKEN_RE = re.compile(r"^[0-9]+:[A-Za-z0-9_-]+$")


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
        for limits in (self.discord_limit, self.telegram_limit):
            if limits:
                limits.reset()

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

        if path in ("/_control", "/_reset", "/_stats"):
            self.send(self.control(state, path, body))
            return

        kind = ("discord" if DISCORD_RE.match(path) else
                "telegram" if TELEGRAM_RE.match(path) else "webhook")
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

        behaviour = state.take_behaviour(path) if self.command == "POST" else None
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
        if self.command != "POST":
            answer = shaped_error(kind, 405, "405: Method Not Allowed")
        elif behaviour and set(behaviour) - {"delay"}:
            answer = self.misbehave(kind, behaviour)
        if answer is None:  # the service's own answer, rate limits included
            if kind == "discord":
                answer = self.discord(state, path, url.query, message, time.time())
            elif kind == "telegram":
                answer = self.telegram(state, path, message, time.time())
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
            state.control(json.loads(body or b"null") or {})
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
