#!/usr/bin/env python3
"""A minimal postcall receiver: verifies the signature, deduplicates, stores.

Python standard library only. It checks, for every POST:
  * HMAC-SHA256 (service auth type "hmac_sha256"): the header
    X-Webhook-Signature (or --hmac-header) is the lowercase hex HMAC of the
    exact body bytes with POSTCALL_HMAC_SECRET;
  * Standard Webhooks (auth type "standard_webhooks"): webhook-signature holds
    one or more "v1,<base64>" signatures of "<webhook-id>.<webhook-timestamp>.<body>"
    keyed with the base64 part of POSTCALL_WEBHOOK_SECRET ("whsec_..."); the
    timestamp must be within 5 minutes.
Whichever secret is set is required. A request that fails answers 401. A
delivery id (Idempotency-Key / webhook-id) seen before answers 200 without
storing again: postcall delivers at least once, so retries can repeat.

Each accepted call record is appended as one JSON line to --out (or printed).

  POSTCALL_HMAC_SECRET=s3cret python3 receiver.py --port 8080 --out calls.jsonl
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 300


def verify_hmac(secret, body, header_value):
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return header_value is not None and hmac.compare_digest(expected, header_value.strip().lower())


def verify_standard_webhooks(secret, body, msg_id, timestamp, signatures, now=None):
    if not (msg_id and timestamp and signatures):
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - ts) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.split("_", 1)[1] if secret.startswith("whsec_") else secret)
    signed = f"{msg_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class Receiver(BaseHTTPRequestHandler):
    server_version = "postcall-example-receiver/1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        cfg = self.server.cfg
        if cfg.hmac_secret and not verify_hmac(cfg.hmac_secret, body, self.headers.get(cfg.hmac_header)):
            return self.answer(401, "bad HMAC signature")
        if cfg.webhook_secret and not verify_standard_webhooks(
            cfg.webhook_secret,
            body,
            self.headers.get("webhook-id"),
            self.headers.get("webhook-timestamp"),
            self.headers.get("webhook-signature"),
        ):
            return self.answer(401, "bad webhook signature")
        try:
            record = json.loads(body)
        except ValueError:
            return self.answer(400, "body is not JSON")
        delivery = self.headers.get("Idempotency-Key") or self.headers.get("webhook-id")
        with self.server.lock:
            if delivery and delivery in self.server.seen:
                return self.answer(200, "duplicate")
            if delivery:
                self.server.seen.add(delivery)
            line = json.dumps({"delivery_id": delivery, "record": record}, separators=(",", ":"))
            if cfg.out:
                with open(cfg.out, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            else:
                print(line, flush=True)
        return self.answer(200, "ok")

    do_PUT = do_POST

    def answer(self, code, text):
        data = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("receiver: " + (fmt % args) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080, help="0 picks a free port (printed on stdout)")
    p.add_argument("--out", help="append accepted records here as JSON lines")
    p.add_argument("--hmac-header", default="X-Webhook-Signature")
    cfg = p.parse_args()
    cfg.hmac_secret = os.environ.get("POSTCALL_HMAC_SECRET")
    cfg.webhook_secret = os.environ.get("POSTCALL_WEBHOOK_SECRET")
    server = ThreadingHTTPServer((cfg.host, cfg.port), Receiver)
    server.cfg, server.seen, server.lock = cfg, set(), threading.Lock()
    print(f"listening on {server.server_address[0]}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
