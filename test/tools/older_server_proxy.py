#!/usr/bin/env python3
"""older_server_proxy: makes a plain (non-TLS) dfsd look like an older one.

Listens on 127.0.0.1 and relays each connection to a server, record by record
(RFC 5531 record marking). A call to one of the hidden procedures is not
relayed: the proxy answers it as a server without that procedure would, with
PROC_UNAVAIL. Counts of the procedures relayed and refused are written to
STATS after every call, one "relayed N COUNT" or "refused N COUNT" per line.

usage: older_server_proxy.py SERVER_PORT PORT_FILE STATS PROC...
  prints the port it listens on to PORT_FILE, then serves until killed.
"""
import os
import socket
import struct
import sys
import threading
from collections import Counter

LAST_FRAGMENT = 0x80000000
CALL, REPLY = 0, 1
MSG_ACCEPTED, AUTH_NONE, PROC_UNAVAIL = 0, 0, 3


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        part = sock.recv(n - len(buf))
        if not part:
            return None
        buf += part
    return buf


def read_record(sock):
    """One whole RPC message, or None at the end of the stream."""
    body = b""
    while True:
        head = read_exact(sock, 4)
        if head is None:
            return None
        mark = struct.unpack(">I", head)[0]
        frag = read_exact(sock, mark & ~LAST_FRAGMENT)
        if frag is None:
            return None
        body += frag
        if mark & LAST_FRAGMENT:
            return body


def framed(body):
    return struct.pack(">I", LAST_FRAGMENT | len(body)) + body


class Proxy:
    def __init__(self, server_port, stats_path, hidden):
        self.server_port = server_port
        self.stats_path = stats_path
        self.hidden = hidden
        self.counts = Counter()
        self.lock = threading.Lock()

    def count(self, what, proc):
        with self.lock:
            self.counts[(what, proc)] += 1
            lines = ["%s %d %d\n" % (w, p, n) for (w, p), n in sorted(self.counts.items())]
            with open(self.stats_path + ".tmp", "w") as f:
                f.writelines(lines)
            # Readers never see a half-written file.
            os.replace(self.stats_path + ".tmp", self.stats_path)

    def serve(self, client):
        server = socket.create_connection(("127.0.0.1", self.server_port))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        to_client = threading.Lock()
        back = threading.Thread(target=self.replies, args=(server, client, to_client),
                                daemon=True)
        back.start()
        try:
            while True:
                msg = read_record(client)
                if msg is None or len(msg) < 24:
                    break
                xid, mtype, _rpcvers, _prog, _vers, proc = struct.unpack(">6I", msg[:24])
                if mtype == CALL and proc in self.hidden:
                    reply = struct.pack(">6I", xid, REPLY, MSG_ACCEPTED, AUTH_NONE, 0,
                                        PROC_UNAVAIL)
                    with to_client:
                        client.sendall(framed(reply))
                    self.count("refused", proc)
                    continue
                server.sendall(framed(msg))
                self.count("relayed", proc)
        finally:
            for s in (client, server):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            back.join()
            client.close()
            server.close()

    @staticmethod
    def replies(server, client, to_client):
        try:
            while True:
                msg = read_record(server)
                if msg is None:
                    break
                with to_client:
                    client.sendall(framed(msg))
        except OSError:
            pass
        try:
            client.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def serve_forever(port_file, serve):
    """Listens on a free port of 127.0.0.1, writes it to port_file, and runs
    serve(client_socket) on a thread of its own for every connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.replace(port_file + ".tmp", port_file)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=serve, args=(client,), daemon=True).start()


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    proxy = Proxy(int(sys.argv[1]), sys.argv[3], {int(p) for p in sys.argv[4:]})
    serve_forever(sys.argv[2], proxy.serve)


if __name__ == "__main__":
    main()
