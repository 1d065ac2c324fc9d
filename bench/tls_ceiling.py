#!/usr/bin/env python3
"""tls_ceiling.py: how fast TLS 1.3 moves bytes over loopback on this machine, memory to
memory, on several connections at once: what any transport encrypted with TLS can reach
here before it reads or writes a file. bench.py reports it beside dfs get.

Each connection has a sending process (a TLS server writing 1 MiB buffers) and a receiving
one (a TLS client reading them); OpenSSL picks the cipher suite, as it does for dfs.

    tls_ceiling.py DIR [--streams N] [--bytes B]    prints MB/s (10^6 bytes per second)

DIR receives a throwaway key and certificate. Standard library and the openssl tool only.
"""

import argparse
import os
import socket
import ssl
import subprocess
import sys
import time

BLOCK = 1 << 20


def send(port, nbytes, cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(cert, key)
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", port))
        ls.listen(1)
        print("ready", flush=True)
        conn, _ = ls.accept()
        with ctx.wrap_socket(conn, server_side=True) as t:
            buf = os.urandom(BLOCK)
            for _ in range(nbytes // BLOCK):
                t.sendall(buf)


def receive(port, nbytes):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    buf = bytearray(BLOCK)
    got = 0
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port))) as t:
        start = time.time()
        while got < nbytes:
            n = t.recv_into(buf)
            if n == 0:
                break
            got += n
        end = time.time()
    print("%d %.6f %.6f" % (got, start, end), flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(workdir, streams, nbytes):
    cert, key = os.path.join(workdir, "ceiling.crt"), os.path.join(workdir, "ceiling.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days",
                    "1", "-subj", "/CN=localhost"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    me = os.path.abspath(__file__)
    per = nbytes // streams // BLOCK * BLOCK
    senders, receivers = [], []
    try:
        for _ in range(streams):
            port = free_port()
            s = subprocess.Popen([sys.executable, me, "--send", str(port), str(per), cert, key],
                                 stdout=subprocess.PIPE, text=True)
            senders.append(s)
            if s.stdout.readline().strip() != "ready":
                raise RuntimeError("a sender did not start")
            receivers.append(port)
        receivers = [subprocess.Popen([sys.executable, me, "--receive", str(port), str(per)],
                                      stdout=subprocess.PIPE, text=True) for port in receivers]
        results = [r.communicate()[0].split() for r in receivers]
    finally:
        for p in senders + [r for r in receivers if isinstance(r, subprocess.Popen)]:
            if p.poll() is None:
                p.kill()
            p.wait()
    if any(len(r) != 3 or int(r[0]) != per for r in results):
        raise RuntimeError("a connection ended early: %s" % results)
    start = min(float(r[1]) for r in results)
    end = max(float(r[2]) for r in results)
    return per * streams / (end - start) / 1e6


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--send":
        send(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return 0
    if len(sys.argv) > 1 and sys.argv[1] == "--receive":
        receive(int(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(prog="tls_ceiling.py")
    ap.add_argument("dir")
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--bytes", type=int, default=1 << 30)
    a = ap.parse_args()
    print("%.1f" % measure(a.dir, a.streams, a.bytes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
