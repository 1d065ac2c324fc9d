#!/usr/bin/env python3
"""evil_server_proxy: makes a plain (non-TLS) dfsd answer as a compromised one would.

Listens on 127.0.0.1 and relays each connection to a server, record by record
(RFC 5531 record marking), rewriting the server's replies according to MODE:

  pad-read          every READ reply carries PAD more bytes than the server sent
                    (up to DFS_BLOCK_MAX), with the lengths fixed to match
  pad-lookup-read   the same for the chunk bytes of every LOOKUP_READ reply that
                    has some (and of every item of a LOOKUP_READ_MANY reply)
  loop-list         the first LIST (or LIST_NAMES) reply of a connection says there
                    is more to come, and every later call on it gets that same page
                    back (same position, never the end), without reaching the server
  loop-list-advance the same, but every page names a new position (LIST_NAMES: a
                    page of one made-up tombstone, named zz/N)
  bad-names         every name in LIST, LIST_NAMES, LOOKUP and LOOKUP_READ(_MANY)
                    replies gets a terminal escape sequence appended
  forge-tombstone   every record in LIST, LIST_NAMES, LOOKUP and LOOKUP_READ(_MANY) replies is
                    replaced by a tombstone a day newer than the proxy's start
                    (the real record becomes its previous one; no bytes sent)
  forge-tombstone-marks
                    the same, with the tombstone saying every other server lacks it
  many-iterations   every LOGIN_BEGIN reply asks for 10,000,000 PBKDF2 iterations

Every reply rewritten is counted in STATS ("rewritten PROC COUNT" lines, written
after each one).

usage: evil_server_proxy.py SERVER_PORT PORT_FILE STATS MODE [PAD]
  prints the port it listens on to PORT_FILE, then serves until killed.
  EVIL_SERVER (default 2) is the number of the server behind the proxy.
"""
import os
import socket
import struct
import sys
import threading
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from older_server_proxy import framed, read_record, serve_forever  # noqa: E402

CALL, REPLY = 0, 1
MSG_ACCEPTED, SUCCESS = 0, 0
LOGIN_BEGIN, READ, LOOKUP, LIST, LOOKUP_READ, LIST_NAMES = 1, 9, 10, 11, 18, 20
LOOKUP_READ_MANY = 26
BLOCK_MAX = 1048576
COOKIE_SIZE = 64
MODES = ("pad-read", "pad-lookup-read", "loop-list", "loop-list-advance", "bad-names",
         "forge-tombstone", "forge-tombstone-marks", "many-iterations")
FORGED_VERSION = (int((time.time() + 86400) * 1e9) & ~0xFFFFF) | 1
NSERVERS = 4
EVIL_SUFFIX = b"\x1b]0;pwned\x07\x1b[2J"


def padded(n):
    return (n + 3) & ~3


def skip_opaque(body, pos):
    (n,) = struct.unpack_from(">I", body, pos)
    return pos + 4 + padded(n)


def skip_file_info(body, pos):
    """The end of the dfs_file_info at pos."""
    pos = skip_opaque(body, pos)  # name
    pos += 8 + 4 + 8 + 8 + 4 + 8  # ver deleted size mtime_ns nchunks digest
    (n,) = struct.unpack_from(">I", body, pos)
    pos += 4 + 20 * n  # chunks: index, size, checksum
    (n,) = struct.unpack_from(">I", body, pos)
    return pos + 4 + 4 * n  # lacking


def results_offset(body):
    """Where the procedure's results begin in an accepted, successful reply, or None."""
    _xid, mtype, stat = struct.unpack_from(">3I", body, 0)
    if mtype != REPLY or stat != MSG_ACCEPTED:
        return None
    pos = skip_opaque(body, 16)  # verifier: flavor at 12, then its body
    (accept,) = struct.unpack_from(">I", body, pos)
    return pos + 4 if accept == SUCCESS else None


def rename_file_infos(body, pos, count):
    """body with EVIL_SUFFIX appended to the names of the count dfs_file_infos at pos."""
    out = body[:pos]
    for _ in range(count):
        (n,) = struct.unpack_from(">I", body, pos)
        name = body[pos + 4:pos + 4 + n] + EVIL_SUFFIX
        end = skip_file_info(body, pos)
        out += (struct.pack(">I", len(name)) + name + b"\0" * (padded(len(name)) - len(name)) +
                body[pos + 4 + padded(n):end])
        pos = end
    return out + body[pos:]


def forged_tombstone(body, pos, lacking):
    """A tombstone of the name of the dfs_file_info at pos, at FORGED_VERSION."""
    (n,) = struct.unpack_from(">I", body, pos)
    name = body[pos:pos + 4 + padded(n)]
    return (name + struct.pack(">QIQqIQ", FORGED_VERSION, 1, 0, 0, NSERVERS, 0) +
            struct.pack(">I", 0) + struct.pack(">I", len(lacking)) +
            b"".join(struct.pack(">I", s) for s in lacking))


def skip_lookup_read_ok(body, pos):
    """The end of the dfs_lookup_read_ok at pos."""
    pos = skip_file_info(body, pos)  # current
    (n,) = struct.unpack_from(">I", body, pos)
    pos += 4
    for _ in range(n):
        pos = skip_file_info(body, pos)  # previous
    return skip_opaque(body, pos + 8)  # data_ver, data


def pad_opaque_at(body, pos, pad):
    """body with the opaque at pos (the last item of the reply) made pad bytes longer."""
    (n,) = struct.unpack_from(">I", body, pos)
    extra = min(pad, BLOCK_MAX - n)
    if extra <= 0:
        return None
    data = body[pos + 4:pos + 4 + n] + b"\xa5" * extra
    tail = body[pos + 4 + padded(n):]
    return (body[:pos] + struct.pack(">I", n + extra) + data +
            b"\0" * (padded(len(data)) - len(data)) + tail)


class Proxy:
    def __init__(self, server_port, stats_path, mode, pad, me=2):
        self.me = me
        self.server_port = server_port
        self.stats_path = stats_path
        self.mode = mode
        self.pad = pad
        self.counts = Counter()
        self.lock = threading.Lock()

    def count(self, proc):
        with self.lock:
            self.counts[proc] += 1
            lines = ["rewritten %d %d\n" % (p, n) for p, n in sorted(self.counts.items())]
            with open(self.stats_path + ".tmp", "w") as f:
                f.writelines(lines)
            os.replace(self.stats_path + ".tmp", self.stats_path)

    def rewrite(self, proc, body, conn):
        """The reply to send the client in place of the server's body."""
        pos = results_offset(body)
        if pos is None:
            return body
        (status,) = struct.unpack_from(">I", body, pos)
        if status != 0:
            return body
        pos += 4
        out = None
        if proc == READ and self.mode == "pad-read":
            out = pad_opaque_at(body, pos, self.pad)
        elif proc == LOOKUP_READ_MANY:
            out = self.rewrite_many(body, pos)
        elif proc == LOOKUP_READ and self.mode == "pad-lookup-read":
            pos = skip_file_info(body, pos)  # current
            (n,) = struct.unpack_from(">I", body, pos)
            pos += 4
            for _ in range(n):
                pos = skip_file_info(body, pos)
            (data_ver,) = struct.unpack_from(">Q", body, pos)
            if data_ver:
                out = pad_opaque_at(body, pos + 8, self.pad)
        elif proc in (LOOKUP, LOOKUP_READ) and self.mode == "bad-names":
            end = skip_file_info(body, pos)
            (n,) = struct.unpack_from(">I", body, end)
            out = rename_file_infos(body, pos, 1)
            if n:
                out = rename_file_infos(out, skip_file_info(out, pos) + 4, n)
        elif proc in (LIST, LIST_NAMES) and self.mode == "bad-names":
            (n,) = struct.unpack_from(">I", body, pos)
            out = rename_file_infos(body, pos + 4, n)
        elif proc == LOGIN_BEGIN and self.mode == "many-iterations":
            (n,) = struct.unpack_from(">I", body, pos + 8)  # after login_id
            first = body[pos + 12:pos + 12 + n]
            head, sep, _ = first.rpartition(b",i=")
            if sep:
                first = head + b",i=10000000"
                out = (body[:pos + 8] + struct.pack(">I", len(first)) + first +
                       b"\0" * (padded(len(first)) - len(first)))
        elif (proc in (LOOKUP, LOOKUP_READ, LIST, LIST_NAMES) and
              self.mode.startswith("forge-tombstone")):
            out = self.forge(proc, body, pos)
        elif proc == LIST and self.mode.startswith("loop-list"):
            (n,) = struct.unpack_from(">I", body, pos)
            pos += 4
            for _ in range(n):
                pos = skip_file_info(body, pos)
            # The page up to its cookie; the rest is made up for each answer.
            conn["page"] = body[:pos]
            out = self.loop_page(conn, body[:4])
        elif proc == LIST_NAMES and self.mode.startswith("loop-list"):
            conn["names_head"] = body[:pos - 4]  # up to the status
            (n,) = struct.unpack_from(">I", body, pos)
            pos += 4
            for _ in range(n):
                pos = skip_file_info(body, pos)
            conn["names_page"] = body[:pos]  # without eof
            out = self.loop_names_page(conn, body[:4])
        if out is None:
            return body
        self.count(proc)
        return out

    def rewrite_many(self, body, pos):
        """A LOOKUP_READ_MANY reply with each item rewritten as a LOOKUP_READ reply
        is, or None if no item was."""
        (n,) = struct.unpack_from(">I", body, pos)
        out, at, changed = body[:pos + 4], pos + 4, False
        for _ in range(n):
            (status,) = struct.unpack_from(">I", body, at)
            end = at + 4 if status else skip_lookup_read_ok(body, at + 4)
            item = body[at:end]
            new = None if status else self.rewrite_item(item)
            changed = changed or new is not None
            out += item if new is None else new
            at = end
        return out + body[at:] if changed else None

    def rewrite_item(self, item):
        """One LOOKUP_READ result (status first) rewritten as rewrite does, or None."""
        pos = 4
        if self.mode == "pad-lookup-read":
            pos = skip_file_info(item, pos)
            (n,) = struct.unpack_from(">I", item, pos)
            pos += 4
            for _ in range(n):
                pos = skip_file_info(item, pos)
            (data_ver,) = struct.unpack_from(">Q", item, pos)
            return pad_opaque_at(item, pos + 8, self.pad) if data_ver else None
        if self.mode == "bad-names":
            end = skip_file_info(item, pos)
            (n,) = struct.unpack_from(">I", item, end)
            out = rename_file_infos(item, pos, 1)
            if n:
                out = rename_file_infos(out, skip_file_info(out, pos) + 4, n)
            return out
        if self.mode.startswith("forge-tombstone"):
            return self.forge(LOOKUP_READ, item, pos)
        return None

    def forge(self, proc, body, pos):
        """body with every record replaced by a forged tombstone."""
        lacking = ([k for k in range(1, NSERVERS + 1) if k != self.me]
                   if self.mode.endswith("-marks") else [])
        if proc in (LIST, LIST_NAMES):
            (n,) = struct.unpack_from(">I", body, pos)
            out, at = body[:pos + 4], pos + 4
            for _ in range(n):
                end = skip_file_info(body, at)
                out += forged_tombstone(body, at, lacking)
                at = end
            return out + body[at:]
        # LOOKUP (and LOOKUP_READ): the forged tombstone is current, the real
        # record its previous; LOOKUP_READ sends no bytes.
        end = skip_file_info(body, pos)
        out = (body[:pos] + forged_tombstone(body, pos, lacking) + struct.pack(">I", 1) +
               body[pos:end])
        if proc == LOOKUP_READ:
            out += struct.pack(">QI", 0, 0)
        return out

    def loop_page(self, conn, xid):
        conn["pages"] = conn.get("pages", 0) + 1
        if self.mode == "loop-list":
            cookie = b"L" * COOKIE_SIZE
        else:
            cookie = (b"%d" % conn["pages"]).rjust(COOKIE_SIZE, b"0")
        return (xid + conn["page"][4:] + struct.pack(">I", COOKIE_SIZE) + cookie +
                struct.pack(">I", 0))

    def loop_names_page(self, conn, xid):
        conn["name_pages"] = conn.get("name_pages", 0) + 1
        if self.mode == "loop-list":
            return xid + conn["names_page"][4:] + struct.pack(">I", 0)
        name = b"zz/%08d" % conn["name_pages"]
        opaque = struct.pack(">I", len(name)) + name + b"\0" * (padded(len(name)) - len(name))
        return (xid + conn["names_head"][4:] + struct.pack(">II", 0, 1) +
                forged_tombstone(opaque, 0, []) + struct.pack(">I", 0))

    def serve(self, client):
        server = socket.create_connection(("127.0.0.1", self.server_port))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        to_client = threading.Lock()
        conn = {"procs": {}}
        back = threading.Thread(target=self.replies, args=(server, client, to_client, conn),
                                daemon=True)
        back.start()
        try:
            while True:
                msg = read_record(client)
                if msg is None or len(msg) < 24:
                    break
                xid, mtype, _rpcvers, _prog, _vers, proc = struct.unpack(">6I", msg[:24])
                if mtype == CALL and proc == LIST and "page" in conn:
                    with to_client:
                        client.sendall(framed(self.loop_page(conn, msg[:4])))
                    self.count(proc)
                    continue
                if mtype == CALL and proc == LIST_NAMES and "names_page" in conn:
                    with to_client:
                        client.sendall(framed(self.loop_names_page(conn, msg[:4])))
                    self.count(proc)
                    continue
                with self.lock:
                    conn["procs"][xid] = proc
                server.sendall(framed(msg))
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            back.join()
            client.close()
            server.close()

    def replies(self, server, client, to_client, conn):
        try:
            while True:
                msg = read_record(server)
                if msg is None:
                    break
                (xid,) = struct.unpack_from(">I", msg, 0)
                with self.lock:
                    proc = conn["procs"].pop(xid, None)
                if proc in (LOGIN_BEGIN, READ, LOOKUP, LIST, LOOKUP_READ, LIST_NAMES,
                            LOOKUP_READ_MANY):
                    msg = self.rewrite(proc, msg, conn)
                with to_client:
                    client.sendall(framed(msg))
        except OSError:
            pass
        try:
            client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[4] not in MODES:
        sys.exit(__doc__)
    pad = int(sys.argv[5]) if len(sys.argv) == 6 else 4096
    proxy = Proxy(int(sys.argv[1]), sys.argv[3], sys.argv[4], pad,
                  int(os.environ.get("EVIL_SERVER", "2")))
    serve_forever(sys.argv[2], proxy.serve)


if __name__ == "__main__":
    main()
