#!/usr/bin/env python3
"""Many slow downloaders at once, for bench/run's scale check.

Each client opens its own TCP connection with a small receive buffer (SO_RCVBUF, set before
connect, so the window is small from the handshake on and the bytes a slow reader leaves back up
into the server instead of into the client's kernel), sends one HTTP/1.1 GET, checks the status
line, then reads at most READ bytes every INTERVAL seconds until SECONDS have passed since the
last client connected. Then every connection is closed by the client.

Errors: a failed connect, a status other than 200, a reset, or the server closing the connection
before the body ended (or before we closed it). Prints one JSON object on stdout.

    python3 bench/slow_clients.py --host 127.0.0.1 --port 8080 --path /ID/download \
        --clients 2000 --seconds 30
"""

import argparse
import asyncio
import json
import resource
import socket
import sys
import time
from collections import Counter


class Stats:
    def __init__(self):
        self.connected = 0
        self.streaming = 0
        self.bytes = 0
        self.errors = Counter()
        self.first_error = None

    def error(self, kind, detail):
        self.errors[kind] += 1
        if self.first_error is None:
            self.first_error = f"{kind}: {detail}"


async def read_head(loop, sock, limit=16384):
    """Reads up to the end of the response head; returns (head, the body bytes read with it)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await loop.sock_recv(sock, 4096)
        if not chunk:
            raise ConnectionError("closed before the response head ended")
        data += chunk
        if len(data) > limit:
            raise ConnectionError("response head too long")
    head, _, rest = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), rest


async def client(args, stats, stop_at, connected_all):
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, args.rcvbuf)
    sock.setblocking(False)
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (args.host, args.port)), 30)
        except (OSError, asyncio.TimeoutError) as e:
            stats.error("connect", repr(e))
            return
        stats.connected += 1
        request = (
            f"GET {args.path} HTTP/1.1\r\nHost: {args.host}:{args.port}\r\n"
            "User-Agent: bench-slow-client\r\nAccept: */*\r\n\r\n"
        ).encode()
        try:
            await loop.sock_sendall(sock, request)
            await connected_all.wait()
            head, body = await asyncio.wait_for(read_head(loop, sock), 60)
        except (OSError, asyncio.TimeoutError) as e:
            stats.error("head", repr(e))
            return
        status_line = head.split("\r\n", 1)[0]
        parts = status_line.split(" ")
        if len(parts) < 2 or parts[1] != "200":
            stats.error("status", f"{status_line} {body[:300].decode(errors='replace')}")
            return
        length = None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        stats.streaming += 1
        got = len(body)
        stats.bytes += got
        while time.monotonic() < stop_at[0]:
            await asyncio.sleep(args.interval)
            try:
                chunk = await loop.sock_recv(sock, args.read)
            except OSError as e:
                stats.error("reset", repr(e))
                return
            if not chunk:
                if length is None or got < length:
                    stats.error("early-close", f"after {got} of {length} bytes")
                return
            got += len(chunk)
            stats.bytes += len(chunk)
            if length is not None and got >= length:
                return  # read it all: not an error, just a fast clip
    finally:
        sock.close()


async def main_async(args):
    stats = Stats()
    # The reading window starts when the last client has connected; stop_at is set then.
    stop_at = [float("inf")]
    connected_all = asyncio.Event()
    started = time.monotonic()
    tasks = []
    for i in range(args.clients):
        tasks.append(asyncio.create_task(client(args, stats, stop_at, connected_all)))
        # Connect in batches: a listen backlog is finite, and a burst of thousands of SYNs on
        # loopback measures the accept queue, not serving.
        if (i + 1) % args.batch == 0:
            await asyncio.sleep(args.batch_pause)
    # Wait until every client has connected (or failed to).
    while stats.connected + stats.errors["connect"] < args.clients:
        await asyncio.sleep(0.05)
    ramp = time.monotonic() - started
    stop_at[0] = time.monotonic() + args.seconds
    connected_all.set()
    if args.ready_file:
        with open(args.ready_file, "w") as f:
            f.write(str(time.time()))
    await asyncio.gather(*tasks)
    return {
        "clients": args.clients,
        "connected": stats.connected,
        "streaming": stats.streaming,
        "ramp_seconds": round(ramp, 3),
        "seconds": args.seconds,
        "bytes": stats.bytes,
        "errors": sum(stats.errors.values()),
        "errors_by_kind": dict(stats.errors),
        "first_error": stats.first_error,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", required=True)
    p.add_argument("--clients", type=int, default=2000)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--read", type=int, default=4096, help="bytes per read")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between reads")
    p.add_argument("--rcvbuf", type=int, default=16384, help="SO_RCVBUF of each socket")
    p.add_argument("--batch", type=int, default=100, help="connections opened per batch")
    p.add_argument("--batch-pause", type=float, default=0.05)
    p.add_argument("--ready-file", help="written once every client has connected")
    args = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.clients + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
        if hard < want:
            sys.exit(f"ulimit -n: hard limit {hard} is below the {want} descriptors needed")
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
