#!/usr/bin/python3
"""A TCP proxy that adds network latency, for the fleet benchmark.

    /usr/bin/python3 bench/latency_proxy.py --listen 127.0.0.1:0 \
        --target 127.0.0.1:5432 --delay-ms 40 [--ready-file PATH] [--handshake]

Every chunk received from either side at time t is written to the other side
at t + delay, in the order it came (per direction), so a request and its
answer cost 2 x delay.  Nothing is throttled: a chunk is read as soon as it
arrives, whatever is still waiting to be written.  Bytes are forwarded
untouched, so PostgreSQL's SSLRequest and the TLS session that follows go
end to end through the proxy.  An end of stream (half-close) and a reset
travel with the same delay, after the bytes before them.

--handshake also charges what a real network charges to open a connection:
the TCP handshake's round trip.  The kernel completes the client's connect()
at once, so instead the first bytes of each connection reach the target no
sooner than 3 x delay after the connection was accepted (SYN, SYN-ACK, then
the client's first bytes), as they would over a link of that delay.

When listening, the proxy prints "listening on HOST:PORT, ..." (and writes
PORT to the ready file, atomically).  SIGUSR1 prints, on stderr, how many
connections are open and in what state, and how late the chunks left their
due times (median, 99th percentile, max: a proxy starved of CPU falls
behind).  SIGTERM or SIGINT closes every connection and ends it.  Standard
library only.

Measured on the 2-core VM it was written on (busy with other work): a
SELECT 1 over TLS, timed by psql, takes 0.04-0.34 ms direct, 0.3-2.2 ms
through the proxy at 0 ms, 81.4-83.3 ms at 40 ms.
"""
import argparse
import asyncio
import collections
import os
import resource
import signal
import socket
import sys

# The event loop's timers wake up to a millisecond late (epoll's timeout is
# rounded up to whole milliseconds): aim half a millisecond early and write
# what is due within half a millisecond, so a chunk leaves within about half
# a millisecond of its time either way, instead of always up to 1 ms late.
SLACK = 0.0005

EOF = object()      # the sending side ended its stream (half-close)
RESET = object()    # the sending side went away (an error, or closed without a half-close)


class Pipe:
    """One direction of a connection: chunks waiting for their time."""

    def __init__(self, conn, delay):
        self.conn = conn
        self.loop = conn.proxy.loop
        self.delay = delay
        self.queue = collections.deque()   # (due, chunk | EOF | RESET)
        self.last_due = 0.0
        self.not_before = 0.0
        self.dest = None                   # the transport written to, once it exists
        self.timer = None
        self.done = False                  # EOF or RESET delivered: nothing more to write

    def push(self, item):
        # never earlier than what came before: order is kept per direction
        due = max(self.loop.time() + self.delay, self.last_due, self.not_before)
        self.last_due = due
        self.queue.append((due, item))
        self.arm()

    def arm(self):
        if self.timer is None and self.queue and self.dest is not None and not self.done:
            self.timer = self.loop.call_at(self.queue[0][0] - SLACK, self.flush)

    def flush(self):
        self.timer = None
        # all that is due, in order (a timer may fire late, or two chunks share a due time)
        now = self.loop.time()
        late = self.conn.proxy.late
        data = []       # the chunks due together leave in one write (one send)
        while self.queue and self.queue[0][0] <= now + SLACK and not self.done:
            due, item = self.queue.popleft()
            late.append(now - due)
            if item is not EOF and item is not RESET:
                data.append(item)
                continue
            if data and not self.dest.is_closing():
                self.dest.write(b"".join(data))
            data = []
            if item is EOF:
                try:
                    self.dest.write_eof()
                except (OSError, RuntimeError, NotImplementedError):
                    # the destination already went away (reset by its end)
                    self.dest.close()
                self.done = True
            else:
                self.dest.close()          # a reset: after what is buffered before it
                self.done = True
        if data and not self.dest.is_closing():
            self.dest.write(b"".join(data))
        if self.done:
            self.queue.clear()
            self.conn.maybe_finish()
        self.arm()

    def cancel(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.queue.clear()
        self.done = True


class Side(asyncio.Protocol):
    """One socket of a connection (the client's or the target's)."""

    def __init__(self, conn, name):
        self.conn = conn
        self.name = name
        self.transport = None
        self.eof = False
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # each chunk leaves when it is due, not when Nagle's algorithm lets it
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn.made(self)

    def data_received(self, data):
        self.conn.pipe_from(self).push(data)

    def eof_received(self):
        self.eof = True
        self.conn.pipe_from(self).push(EOF)
        return True     # keep the socket: the other direction may still be flowing

    def connection_lost(self, exc):
        self.closed = True
        if not self.eof or exc is not None:
            self.conn.pipe_from(self).push(RESET)
        self.conn.maybe_finish()

    # This socket's send buffer is full (its reader is slower than its writer):
    # stop reading what feeds it until it drains, so memory stays bounded.
    def pause_writing(self):
        self.conn.feeding(self, pause=True)

    def resume_writing(self):
        self.conn.feeding(self, pause=False)


class Connection:
    """A client connection and the one made to the target for it."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.client = Side(self, "client")
        self.target = Side(self, "target")
        self.up = Pipe(self, proxy.delay)      # client -> target
        self.down = Pipe(self, proxy.delay)    # target -> client
        self.opening = None                    # the task connecting to the target
        self.finished = False

    def pipe_from(self, side):
        return self.up if side is self.client else self.down

    def feeding(self, side, pause):
        other = self.target if side is self.client else self.client
        if other.transport is not None and not other.transport.is_closing():
            if pause:
                other.transport.pause_reading()
            else:
                other.transport.resume_reading()

    def made(self, side):
        loop = self.proxy.loop
        if side is self.client:
            self.down.dest = side.transport
            if self.proxy.handshake:
                self.up.not_before = loop.time() + 3 * self.proxy.delay
            self.opening = loop.create_task(self.open_target())
        else:
            self.up.dest = side.transport
            self.up.arm()

    async def open_target(self):
        # with --handshake, the target sees the connection when the SYN would reach it
        if self.proxy.handshake and self.proxy.delay > 0:
            await asyncio.sleep(self.proxy.delay)
        try:
            await self.proxy.loop.create_connection(lambda: self.target, *self.proxy.target)
        except OSError as e:
            print(f"latency_proxy: cannot reach the target: {e}", file=sys.stderr, flush=True)
            self.client.transport.close()
        finally:
            self.opening = None
        self.maybe_finish()

    def maybe_finish(self):
        # both directions ended (half-closes or resets delivered): close both sockets
        if self.up.done and self.down.done:
            for side in (self.client, self.target):
                if side.transport is not None and not side.transport.is_closing():
                    side.transport.close()
        target_gone = self.target.closed or (self.target.transport is None and self.opening is None)
        # (a target still open after the client left is closed when the
        # client's end, travelling in its pipe, reaches it)
        if self.client.closed and target_gone and not self.finished:
            self.finished = True
            self.up.cancel()
            self.down.cancel()
            self.proxy.connections.discard(self)

    def abort(self):
        self.finished = True
        self.up.cancel()
        self.down.cancel()
        if self.opening is not None:
            self.opening.cancel()
        for side in (self.client, self.target):
            if side.transport is not None:
                side.transport.abort()
        self.proxy.connections.discard(self)


class Proxy:
    def __init__(self, loop, target, delay, handshake):
        self.loop = loop
        self.target = target
        self.delay = delay
        self.handshake = handshake
        self.connections = set()
        self.late = []      # how late each chunk left (seconds; negative: early)

    def report(self):
        """SIGUSR1: the connections still open, and in what state."""
        states = collections.Counter()
        for c in self.connections:
            states[" ".join(f"{side.name}:{'closed' if side.closed else 'eof' if side.eof else 'open' if side.transport else 'none'}"
                            for side in (c.client, c.target))
                   + f" up:{'done' if c.up.done else len(c.up.queue)} down:{'done' if c.down.done else len(c.down.queue)}"] += 1
        print(f"latency_proxy: {len(self.connections)} connections open", file=sys.stderr, flush=True)
        if self.late:
            late = sorted(self.late)
            q = lambda f: late[min(len(late) - 1, int(f * len(late)))] * 1000
            print(f"latency_proxy: {len(late)} chunks, late by median {q(0.5):.2f} ms,"
                  f" p99 {q(0.99):.2f} ms, max {late[-1] * 1000:.2f} ms", file=sys.stderr, flush=True)
        for state, count in sorted(states.items()):
            print(f"  {count} x {state}", file=sys.stderr, flush=True)

    def accept(self):
        conn = Connection(self)
        self.connections.add(conn)
        return conn.client


def host_port(text):
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: want HOST:PORT")
    return host.strip("[]"), int(port)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", type=host_port, default=("127.0.0.1", 0),
                    help="HOST:PORT to listen on (port 0: any free port)")
    ap.add_argument("--target", type=host_port, required=True, help="HOST:PORT to forward to")
    ap.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay added to every chunk")
    ap.add_argument("--handshake", action="store_true",
                    help="also charge the TCP handshake's round trip (first bytes after 3 x delay)")
    ap.add_argument("--ready-file", help="write the port here once listening")
    args = ap.parse_args()

    # two descriptors per connection, hundreds of connections
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    loop = asyncio.get_running_loop()
    proxy = Proxy(loop, args.target, args.delay_ms / 1000.0, args.handshake)
    server = await loop.create_server(proxy.accept, *args.listen, backlog=4096,
                                      reuse_address=True)
    host, port = server.sockets[0].getsockname()[:2]

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, proxy.report)

    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, args.ready_file)
    print(f"listening on {host}:{port}, forwarding to {args.target[0]}:{args.target[1]},"
          f" {args.delay_ms:g} ms one way{' + TCP handshake' if args.handshake else ''}",
          flush=True)

    await stop.wait()
    server.close()
    for conn in list(proxy.connections):
        conn.abort()
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
