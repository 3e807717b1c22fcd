"""A visit counter: GET / increments a Redis key and answers the count."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import redis

CACHE = redis.Redis(host=os.environ.get("REDIS_HOST", "localhost"), socket_timeout=5)


class Counter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = str(CACHE.incr("visits")).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8000), Counter).serve_forever()
