#!/usr/bin/env python3
"""SMTP load client: N concurrent sessions send corpus messages to an SMTP server.

Usage: smtp_load.py --port PORT --index INDEX.tsv [--messages 10000] [--sessions 200]
                    [--per-session 10] [--rcpt user@example.com]

Each session connects, says EHLO, sends up to --per-session messages (MAIL, RCPT, DATA;
RSET after a refused one), QUITs and reconnects until the total is sent. Messages are the
index's files shuffled with a fixed seed (--seed), cycled; an mbox "From " first line is dropped, line ends become CRLF
and lines starting with "." are dot-stuffed. Prints one JSON object: sent, accepted (250),
rejected (5xx), tempfailed (4xx), errors (connection trouble), seconds, messages_per_second.
Standard library only.
"""
import argparse
import asyncio
import json
import os
import random
import sys
import time


def load_messages(index, limit, seed):
    root = os.path.dirname(os.path.abspath(index))
    paths = []
    with open(index, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2:
                paths.append(os.path.join(root, parts[1]))
    random.Random(seed).shuffle(paths)
    out = []
    for p in paths[:limit]:
        with open(p, "rb") as f:
            raw = f.read()
        if raw.startswith(b"From "):
            raw = raw.split(b"\n", 1)[1] if b"\n" in raw else b""
        lines = raw.replace(b"\r\n", b"\n").split(b"\n")
        lines = [b"." + l if l.startswith(b".") else l for l in lines]
        out.append(b"\r\n".join(lines).rstrip(b"\r\n") + b"\r\n.\r\n")
    return out


class Counts:
    def __init__(self):
        self.sent = self.accepted = self.rejected = self.tempfailed = self.errors = 0


async def reply(reader):
    """One SMTP reply: (code, text of the last line)."""
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        if len(line) < 4 or line[3:4] != b"-":
            return int(line[:3]), line[4:].strip().decode(errors="replace")


async def command(reader, writer, data):
    writer.write(data)
    await writer.drain()
    return await reply(reader)


async def session(port, queue, messages, per_session, rcpt, counts):
    while True:
        batch = []
        for _ in range(per_session):
            try:
                batch.append(queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        if not batch:
            return
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts.errors += len(batch)
            counts.sent += len(batch)
            continue
        try:
            code, _ = await reply(reader)
            if code != 220:
                raise ConnectionError(f"banner {code}")
            code, _ = await command(reader, writer, b"EHLO load.example.org\r\n")
            for n in batch:
                counts.sent += 1
                code, _ = await command(reader, writer, f"MAIL FROM:<load{n}@example.org>\r\n".encode())
                if code >= 400:
                    counts.tempfailed += code < 500
                    counts.rejected += code >= 500
                    await command(reader, writer, b"RSET\r\n")
                    continue
                code, _ = await command(reader, writer, f"RCPT TO:<{rcpt}>\r\n".encode())
                if code >= 400:
                    counts.tempfailed += code < 500
                    counts.rejected += code >= 500
                    await command(reader, writer, b"RSET\r\n")
                    continue
                code, _ = await command(reader, writer, b"DATA\r\n")
                if code != 354:
                    counts.errors += 1
                    await command(reader, writer, b"RSET\r\n")
                    continue
                code, text = await command(reader, writer, messages[n % len(messages)])
                if code == 250:
                    counts.accepted += 1
                elif code >= 500:
                    counts.rejected += 1
                elif code >= 400:
                    counts.tempfailed += 1
                else:
                    counts.errors += 1
            await command(reader, writer, b"QUIT\r\n")
        except (ConnectionError, OSError) as e:
            print(f"session error: {e}", file=sys.stderr)
            counts.errors += 1
        finally:
            writer.close()


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--index", required=True)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--sessions", type=int, default=200)
    ap.add_argument("--per-session", type=int, default=10)
    ap.add_argument("--corpus-limit", type=int, default=100000)
    ap.add_argument("--rcpt", default="user@example.com")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    messages = load_messages(a.index, a.corpus_limit, a.seed)
    queue = asyncio.Queue()
    for n in range(a.messages):
        queue.put_nowait(n)
    counts = Counts()
    t0 = time.monotonic()
    await asyncio.gather(*(session(a.port, queue, messages, a.per_session, a.rcpt, counts)
                           for _ in range(a.sessions)))
    secs = time.monotonic() - t0
    print(json.dumps({
        "corpus_messages": len(messages), "sent": counts.sent, "accepted": counts.accepted,
        "rejected": counts.rejected, "tempfailed": counts.tempfailed, "errors": counts.errors,
        "sessions": a.sessions, "seconds": round(secs, 2),
        "messages_per_second": round(counts.sent / secs, 1) if secs > 0 else None,
    }))


if __name__ == "__main__":
    asyncio.run(main())
