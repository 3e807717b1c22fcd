"""A small visit counter: Redis counts, PostgreSQL keeps a log. The examples' app under test."""

import json
import os
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg2
import redis

CACHE = redis.Redis(host=os.environ.get("REDIS_HOST", "redis"), port=6379)
DSN = os.environ.get("DATABASE_URL", "host=postgres user=postgres dbname=postgres")


def database():
    return psycopg2.connect(DSN)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server API
        if self.path == "/health":
            return self.reply(200, {"ok": True})
        if self.path.startswith("/visit/"):
            page = self.path.removeprefix("/visit/")
            count = CACHE.incr(f"visits:{page}")
            with database() as conn, conn.cursor() as cur:
                cur.execute("CREATE TABLE IF NOT EXISTS visits (page text, n int)")
                cur.execute("INSERT INTO visits VALUES (%s, %s)", (page, count))
            return self.reply(200, {"page": page, "visits": count})
        if self.path == "/log":
            with database() as conn, conn.cursor() as cur:
                cur.execute("SELECT page, n FROM visits ORDER BY n")
                return self.reply(200, {"log": cur.fetchall()})
        return self.reply(404, {"error": "not found"})

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    # PID 1 gets no default SIGTERM action: exit on `docker stop` instead of waiting to be killed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
