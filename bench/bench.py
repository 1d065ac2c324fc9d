#!/usr/bin/env python3
"""bench.py: measures dfs put/get on a fresh local TLS cluster beside local floors and peers.

Started by bench/run. Everything it starts (the dfs cluster, an rsync daemon, an sshd, an
NFS-Ganesha server) and every file it writes lives under one temporary folder and is stopped
or removed on exit, also on Ctrl-C. Standard library only.
"""

import argparse
import datetime
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GIB = 1 << 30
MIB = 1 << 20
USER, PASSWORD = "AnujS", "Bluepanda"
RSS_TARGET_MIB = 64
PEER_PACKAGES = ["rsync", "openssh-server", "openssh-client", "nfs-ganesha", "nfs-ganesha-vfs",
                 "libnfs-utils"]
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip().upper())
    if not m:
        raise argparse.ArgumentTypeError("bad size '%s' (use e.g. 4K, 256M, 1G)" % text)
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]


def size_label(n):
    for shift, unit in ((30, "G"), (20, "M"), (10, "K")):
        if n >= (1 << shift) and n % (1 << shift) == 0:
            return "%d%s" % (n >> shift, unit)
    return "%dB" % n


def run(cmd, check=True, **kw):
    """Runs cmd quietly; raises BenchError with its output if it fails and check is set."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if check and p.returncode != 0:
        raise BenchError("%s failed (exit %d): %s" % (" ".join(map(str, cmd)), p.returncode,
                                                      p.stdout.strip()[-2000:]))
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what, timeout=20.0):
    """Polls until something accepts on 127.0.0.1:port; fails if proc exits first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise BenchError("%s exited during start-up (exit %d)" % (what, proc.returncode))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError("%s does not accept connections on port %d after %ds" % (what, port, timeout))


class Timed:
    """One timed run: wall seconds, client CPU seconds and peak RSS (KiB) from /usr/bin/time."""

    def __init__(self, wall, cpu, rss_kib):
        self.wall, self.cpu, self.rss_kib = wall, cpu, rss_kib


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="dfs-bench.", dir=os.environ.get("TMPDIR", "/tmp"))
        self.cleanups = []
        self.rows = []
        self.notes = []
        self.installed = []
        self.drop_ok = True
        self.build = None
        self.cluster_dir = os.path.join(self.tmp, "cluster")
        self.cluster_running = False
        self.failed = False
        self.ceiling = None  # MB/s of TLS over loopback (tls_ceiling)

    # --- plumbing ---------------------------------------------------------------------------

    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        return p

    def mkdir(self, *parts):
        p = self.path(*parts)
        os.makedirs(p, exist_ok=True)
        return p

    def cleanup(self):
        while self.cleanups:
            fn = self.cleanups.pop()
            try:
                fn()
            except Exception as e:  # cleanup must go on with the next item
                log("cleanup: %s" % e)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def drop_caches(self):
        os.sync()
        if not self.drop_ok:
            return
        try:
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        except OSError as e:
            self.drop_ok = False
            self.notes.append("The page cache could not be dropped before gets (%s): gets may "
                              "read from memory." % e.strerror)

    def warm(self, paths):
        """Reads files so a put-like transfer starts from the page cache, as every put does."""
        for p in paths:
            with open(p, "rb") as f:
                while f.read(8 * MIB):
                    pass

    def timed(self, cmd, env=None):
        tf = self.path("time.out")
        full = ["/usr/bin/time", "-f", "%U %S %M", "-o", tf] + cmd
        t0 = time.monotonic()
        p = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                           env=env)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            raise BenchError("%s failed (exit %d): %s" % (" ".join(cmd[:3]), p.returncode,
                                                          p.stderr.strip()[-2000:]))
        with open(tf) as f:
            u, s, m = f.read().split()[-3:]
        return Timed(wall, float(u) + float(s), int(m))

    def repeat(self, prepare, cmd, env=None, after_warmup=None):
        """One discarded warm-up, then --reps measured runs; prepare() runs before each.
        cmd may be a function of the run's number (0: the warm-up) returning the command."""
        out = []
        for i in range(self.args.reps + 1):
            prepare()
            t = self.timed(cmd(i) if callable(cmd) else cmd, env)
            if i == 0:
                if after_warmup:
                    after_warmup()
            else:
                out.append(t)
        return out

    def row(self, figure, value, unit, ref=None, ref_name="", target="", fmt="%.1f"):
        ratio = "" if (ref is None or value is None or ref == 0) else "%.2f" % (value / ref)
        self.rows.append((figure, "" if value is None else fmt % value, unit, ref_name, ratio,
                          target))

    def row_missing(self, figure, reason):
        self.rows.append((figure, "not measured: " + " ".join(reason.split()), "", "", "", ""))

    # --- build and cluster ---------------------------------------------------------------------

    def find_build(self):
        b = os.environ.get("DFS_BUILD")
        if not b:
            b = os.path.join(SRC, "build-release")
            log("building dfs (Release) in %s" % b)
            run(["cmake", "-S", SRC, "-B", b, "-DCMAKE_BUILD_TYPE=Release"])
            run(["cmake", "--build", b, "-j%d" % (os.cpu_count() or 2)])
        for exe in ("dfs", "dfsd", "dfsadm"):
            if not os.access(os.path.join(b, "bin", exe), os.X_OK):
                raise BenchError("%s/bin/%s not found (set DFS_BUILD to a built tree)" % (b, exe))
        self.build = os.path.abspath(b)
        cache = os.path.join(self.build, "CMakeCache.txt")
        btype = "?"
        if os.path.exists(cache):
            m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", open(cache).read(), re.M)
            btype = m.group(1) if m else "?"
        self.build_type = btype or "default"

    def cluster(self, *cmd):
        env = dict(os.environ, DFS_BUILD=self.build)
        return run([os.path.join(SRC, "deploy", "dfs-cluster"), "-d", self.cluster_dir] +
                   list(cmd), env=env)

    def cluster_restart(self):
        """Stops and starts every server, so each workload's peak RSS is its own."""
        if self.cluster_running:
            self.cluster("down")
        else:
            self.cleanups.append(self.cluster_down)
        self.cluster_running = True
        self.cluster("up")
        self.pids = []
        for k in range(1, 5):
            with open(os.path.join(self.cluster_dir, "run", "dfsd-%d.pid" % k)) as f:
                self.pids.append(int(f.read().strip()))

    def cluster_down(self):
        if self.cluster_running:
            self.cluster("down")
            self.cluster_running = False

    def server_cpu(self):
        total = 0
        for pid in self.pids:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14, 15
        return total / TICK

    def server_hwm(self):
        out = []
        for pid in self.pids:
            with open("/proc/%d/status" % pid) as f:
                m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
            out.append(int(m.group(1)))
        return out

    def dfs_cmd(self, *args):
        return [os.path.join(self.build, "bin", "dfs"), "-c",
                os.path.join(self.cluster_dir, "dfs.conf"), "-u", USER, "-q"] + list(args)

    def dfs_env(self):
        return dict(os.environ, DFS_PASSWORD=PASSWORD)

    # --- data --------------------------------------------------------------------------------

    def make_file(self, path, size):
        with open("/dev/urandom", "rb") as src, open(path, "wb") as dst:
            left = size
            while left > 0:
                b = src.read(min(left, 4 * MIB))
                dst.write(b)
                left -= len(b)

    @staticmethod
    def rm(*paths):
        for p in paths:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p)
            elif os.path.lexists(p):
                os.unlink(p)

    @staticmethod
    def same(a, b):
        return subprocess.run(["cmp", "-s", a, b]).returncode == 0

    # --- peers ---------------------------------------------------------------------------------

    def ensure_packages(self, quick):
        need = []
        for pkg, exe in (("rsync", "rsync"), ("openssh-server", "/usr/sbin/sshd"),
                         ("openssh-client", "scp"), ("nfs-ganesha", "ganesha.nfsd"),
                         ("nfs-ganesha-vfs", "/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so"),
                         ("libnfs-utils", "nfs-cp")):
            if exe.startswith("/"):
                ok = os.path.exists(exe) or self.dpkg_has(pkg)
            else:
                ok = shutil.which(exe) is not None
            if not ok:
                need.append(pkg)
        if not need or quick:
            return
        if os.geteuid() != 0:
            self.notes.append("Missing peer packages not installed (not root): " + " ".join(need))
            return
        log("installing " + " ".join(need))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "update", "-qq"], check=False, env=env)
        p = run(["apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "-qq"] + need,
                check=False, env=env)
        if p.returncode != 0:
            self.notes.append("apt-get install %s failed: %s" % (" ".join(need),
                                                                 p.stdout.strip()[-300:]))
        else:
            self.installed = need

    @staticmethod
    def dpkg_has(pkg):
        p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
        return p.returncode == 0 and "install ok installed" in p.stdout

    def spawn(self, cmd, logname):
        logf = open(self.path(logname), "ab")
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        logf.close()

        def stop():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.cleanups.append(stop)
        return p

    def start_rsyncd(self):
        if not shutil.which("rsync"):
            raise BenchError("rsync is not installed")
        mod = self.mkdir("peer", "rsync")
        conf = self.path("rsyncd.conf")
        with open(conf, "w") as f:
            f.write("use chroot = no\nuid = %d\ngid = %d\n[bench]\npath = %s\nread only = no\n"
                    % (os.getuid(), os.getgid(), mod))
        port = free_port()
        p = self.spawn(["rsync", "--daemon", "--no-detach", "--config=" + conf,
                        "--address=127.0.0.1", "--port=%d" % port,
                        "--log-file=" + self.path("rsyncd.log")], "rsyncd.out")
        wait_port(port, p, "rsync daemon")
        url = "rsync://127.0.0.1:%d/bench/" % port
        return {
            "name": "rsync daemon", "dir": mod,
            "put": lambda src, name: ["rsync", "-W", src, url + name],
            "get": lambda name, out: ["rsync", "-W", url + name, out],
            "mput": lambda srcs, sub: ["rsync", "-W"] + srcs + [url + sub + "/"],
            # The whole folder: rsync refuses a thousand remote names on one command line.
            "mget": lambda names, sub, out: ["rsync", "-W", "-r", url + sub + "/", out + "/"],
        }

    def start_sshd(self):
        sshd = "/usr/sbin/sshd"
        if not (os.path.exists(sshd) and shutil.which("scp") and shutil.which("ssh-keygen")):
            raise BenchError("openssh-server/openssh-client are not installed")
        d = self.mkdir("ssh")
        os.chmod(d, 0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, "host_key")])
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(d, "id")])
        shutil.copy(os.path.join(d, "id.pub"), os.path.join(d, "authorized_keys"))
        if not os.path.isdir("/run/sshd"):
            # sshd's privilege separation needs this empty folder; remove it only if made here.
            os.makedirs("/run/sshd", mode=0o755)
            self.cleanups.append(lambda: os.rmdir("/run/sshd"))
        mod = self.mkdir("peer", "scp")
        port = free_port()
        user = os.environ.get("USER") or "root"
        p = self.spawn([sshd, "-D", "-e", "-f", "/dev/null", "-p", str(port),
                        "-o", "ListenAddress=127.0.0.1",
                        "-o", "HostKey=" + os.path.join(d, "host_key"),
                        "-o", "AuthorizedKeysFile=" + os.path.join(d, "authorized_keys"),
                        "-o", "PidFile=" + os.path.join(d, "sshd.pid"),
                        "-o", "StrictModes=no", "-o", "PermitRootLogin=prohibit-password",
                        "-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no",
                        "-o", "UsePAM=no", "-o", "Subsystem=sftp internal-sftp"], "sshd.log")
        wait_port(port, p, "sshd")
        base = ["scp", "-q", "-F", "/dev/null", "-i", os.path.join(d, "id"),
                "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "StrictHostKeyChecking=no",
                "-o", "LogLevel=ERROR", "-P", str(port), "-c", "aes128-gcm@openssh.com"]
        host = "%s@127.0.0.1:" % user
        return {
            "name": "scp aes128-gcm", "dir": mod,
            "put": lambda src, name: base + [src, host + os.path.join(mod, name)],
            "get": lambda name, out: base + [host + os.path.join(mod, name), out],
            "mput": lambda srcs, sub: base + srcs + [host + os.path.join(mod, sub) + "/"],
            "mget": lambda names, sub, out: base + [host + os.path.join(mod, sub, "*"), out + "/"],
        }

    def rpc_programs(self):
        p = run(["rpcinfo", "-p", "127.0.0.1"], check=False)
        return {int(line.split()[0]) for line in p.stdout.splitlines()[1:] if line.split()}

    def start_ganesha(self):
        exe = shutil.which("ganesha.nfsd")
        if not exe or not shutil.which("nfs-cp"):
            raise BenchError("nfs-ganesha or libnfs-utils is not installed")
        if {100003, 100005} & self.rpc_programs():
            raise BenchError("another NFS server is registered with rpcbind")
        export = self.mkdir("peer", "nfs")
        rec = self.mkdir("ganesha-recovery")
        conf = self.path("ganesha.conf")
        ports = [free_port() for _ in range(4)]
        with open(conf, "w") as f:
            f.write("""
NFS_CORE_PARAM {
    Bind_addr = 127.0.0.1;
    NFS_Port = %d; MNT_Port = %d; NLM_Port = %d; Rquota_Port = %d;
    Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false;
    Protocols = 3;
}
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "%s"; }
NFS_KRB5 { Active_krb5 = false; }
EXPORT {
    Export_Id = 77; Path = "%s"; Pseudo = "/bench";
    Protocols = 3; Transports = TCP; Access_Type = RW; Squash = No_Root_Squash;
    SecType = sys;
    FSAL { Name = VFS; }
}
""" % (ports[0], ports[1], ports[2], ports[3], rec, export))

        def unregister():
            for prog, vers in ((100003, 3), (100003, 4), (100005, 1), (100005, 2), (100005, 3)):
                run(["rpcinfo", "-d", str(prog), str(vers)], check=False)
        p = self.spawn([exe, "-F", "-f", conf, "-L", self.path("ganesha.log"),
                        "-p", self.path("ganesha.pid"), "-N", "NIV_WARN"], "ganesha.out")
        self.cleanups.append(unregister)
        wait_port(ports[0], p, "ganesha.nfsd", timeout=30)
        end = time.monotonic() + 30
        while not {100003, 100005} <= self.rpc_programs():
            if p.poll() is not None or time.monotonic() > end:
                raise BenchError("ganesha.nfsd did not register with rpcbind")
            time.sleep(0.1)
        url = "nfs://127.0.0.1%s/" % export
        return {
            "name": "nfs-ganesha nfs-cp", "dir": export,
            "put": lambda src, name: ["nfs-cp", src, url + name],
            "get": lambda name, out: ["nfs-cp", url + name, out],
        }

    def start_peers(self):
        peers = []
        starters = [("rsync daemon", self.start_rsyncd)]
        if not self.args.quick:
            starters += [("scp aes128-gcm", self.start_sshd),
                         ("nfs-ganesha nfs-cp", self.start_ganesha)]
        for name, fn in starters:
            try:
                log("starting " + name)
                peers.append(fn())
            except (BenchError, OSError) as e:
                log("%s: not measured: %s" % (name, e))
                peers.append({"name": name, "error": str(e)})
        # A peer that starts but cannot move a file is reported, not fatal.
        probe = self.path("data", "probe")
        self.make_file(probe, 4096)
        for p in peers:
            if "error" in p:
                continue
            try:
                run(p["put"](probe, "probe"))
                run(p["get"]("probe", self.path("probe.out")))
                if not self.same(probe, self.path("probe.out")):
                    raise BenchError("file came back different")
                self.rm(self.path("probe.out"), os.path.join(p["dir"], "probe"))
            except BenchError as e:
                log("%s: not measured: %s" % (p["name"], e))
                p["error"] = str(e)[:200]
        return peers

    # --- measurements ------------------------------------------------------------------------

    def mbps(self, size, runs):
        return statistics.median(size / r.wall / 1e6 for r in runs)

    def floor_put(self, src, size):
        d = self.mkdir("floor")
        a, b = os.path.join(d, "a"), os.path.join(d, "b")

        def prep():
            self.rm(a, b)
            os.sync()
            self.warm([src])
        runs = self.repeat(prep, ["sh", "-c", 'cp "$0" "$1" && cp "$0" "$2" && sync', src, a, b])
        self.rm(a, b)
        return self.mbps(size, runs)

    def floor_get(self, src, size):
        d = self.mkdir("floor")
        a = os.path.join(d, "a")

        def prep():
            self.rm(a)
            self.drop_caches()
        runs = self.repeat(prep, ["cp", src, a])
        self.rm(a)
        return self.mbps(size, runs)

    def peer_size(self, p, src, size, name, out):
        """put and get of one file through a peer; returns the two MB/s medians."""
        # A fresh name per run: NFS-Ganesha caches names, so files are never reused.
        seq = iter(range(1 << 30))
        cur = []

        def pprep():
            cur.append("%s.%d" % (name, next(seq)))
            os.sync()
            self.warm([src])
        runs = []
        for i in range(self.args.reps + 1):
            pprep()
            # The peers do not flush to disk themselves; "&& sync" makes them as durable as dfs.
            t = self.timed(["sh", "-c", '"$@" && sync', "sh"] + p["put"](src, cur[-1]))
            if i:
                runs.append(t)
        put = self.mbps(size, runs)
        last = cur[-1]

        def gprep():
            self.rm(out)
            self.drop_caches()

        def gcheck():
            if not self.same(src, out):
                raise BenchError("%s returned different bytes" % p["name"])
        runs = self.repeat(gprep, p["get"](last, out), after_warmup=gcheck)
        self.rm(out, *[os.path.join(p["dir"], x) for x in cur])
        return put, self.mbps(size, runs)

    def bench_size(self, size, peers, aes):
        lab = size_label(size)
        log("%s: starting a fresh cluster" % lab)
        self.cluster_restart()
        src = self.path("data", "f" + lab)
        self.make_file(src, size)
        name = "bench-" + lab
        env = self.dfs_env()
        out = self.path("out", name)
        self.mkdir("out")

        log("%s: dfs put" % lab)
        cpu = []

        def put_prep():
            self.warm([src])
            cpu.append(self.server_cpu())
        put = self.repeat(put_prep, self.dfs_cmd("put", src, "--as", name), env)
        cpu.append(self.server_cpu())
        srv_put = sum(cpu[i + 1] - cpu[i] for i in range(1, len(cpu) - 1))
        hwm_put = self.server_hwm()

        log("%s: dfs get" % lab)
        cpu = []

        def get_prep():
            self.rm(out)
            self.drop_caches()
            cpu.append(self.server_cpu())

        def check():
            if not self.same(src, out):
                raise BenchError("dfs get returned different bytes for " + name)
        get = self.repeat(get_prep, self.dfs_cmd("get", name, "-o", out), env, check)
        cpu.append(self.server_cpu())
        srv_get = sum(cpu[i + 1] - cpu[i] for i in range(1, len(cpu) - 1))
        hwm = [max(x, y) for x, y in zip(hwm_put, self.server_hwm())]
        self.rm(out)
        run(self.dfs_cmd("delete", name), env=env)

        log("%s: floors" % lab)
        fput = self.floor_put(src, size)
        fget = self.floor_get(src, size)

        peer_put, peer_get = {}, {}
        for p in peers:
            if "error" in p:
                continue
            log("%s: %s" % (lab, p["name"]))
            try:
                peer_put[p["name"]], peer_get[p["name"]] = self.peer_size(p, src, size, name,
                                                                          out)
            except BenchError as e:
                log("%s: not measured: %s" % (p["name"], e))
                p["error"] = str(e)[:200]
        self.rm(src)

        reps = self.args.reps
        gib = size * reps / GIB
        mb_put, mb_get = self.mbps(size, put), self.mbps(size, get)
        self.row("put %s dfs" % lab, mb_put, "MB/s", fput, "cp x2 + sync", ">= 0.80")
        self.row("put %s floor: cp x2 + sync" % lab, fput, "MB/s", fput, "cp x2 + sync")
        for p in peers:
            if "error" in p:
                self.row_missing("put %s %s" % (lab, p["name"]), p["error"])
            else:
                self.row("put %s %s (+ sync)" % (lab, p["name"]), peer_put[p["name"]], "MB/s",
                         fput, "cp x2 + sync")
        self.row("get %s dfs" % lab, mb_get, "MB/s", fget, "cp", ">= 0.80")
        self.row("get %s floor: cp" % lab, fget, "MB/s", fget, "cp")
        for p in peers:
            if "error" in p:
                self.row_missing("get %s %s" % (lab, p["name"]), p["error"])
            else:
                self.row("get %s %s" % (lab, p["name"]), peer_get[p["name"]], "MB/s", fget, "cp")
        nfs = peer_get.get("nfs-ganesha nfs-cp")
        if nfs:
            self.row("get %s dfs vs nfs-cp" % lab, mb_get, "MB/s", nfs, "nfs-cp get", ">= 1.00")
        if self.ceiling:
            self.row("get %s dfs vs the TLS ceiling" % lab, mb_get, "MB/s", self.ceiling,
                     "TLS over loopback")
        rss_put = max(r.rss_kib for r in put) / 1024
        rss_get = max(r.rss_kib for r in get) / 1024
        self.row("peak RSS client put %s" % lab, rss_put, "MiB", RSS_TARGET_MIB, "64 MiB",
                 "<= 1.00")
        self.row("peak RSS client get %s" % lab, rss_get, "MiB", RSS_TARGET_MIB, "64 MiB",
                 "<= 1.00")
        for k, h in enumerate(hwm, 1):
            self.row("peak RSS DFS%d %s (put+get)" % (k, lab), h / 1024, "MiB", RSS_TARGET_MIB,
                     "64 MiB", "<= 1.00")
        # The least CPU TLS can cost: a put encrypts each byte twice (two holders) and the
        # servers decrypt it twice; a get encrypts once and decrypts once.
        cpu_put = (sum(r.cpu for r in put) + srv_put) / gib
        cpu_get = (sum(r.cpu for r in get) + srv_get) / gib
        self.row("CPU put %s (client + servers)" % lab, cpu_put, "s/GiB", 4 * GIB / aes,
                 "4 x AES-GCM pass", "", fmt="%.2f")
        self.row("CPU get %s (client + servers)" % lab, cpu_get, "s/GiB", 2 * GIB / aes,
                 "2 x AES-GCM pass", "", fmt="%.2f")
        log("%s: put %.1f MB/s (floor %.1f), get %.1f MB/s (floor %.1f)" %
            (lab, mb_put, fput, mb_get, fget))

    def peer_small(self, p, srcs, names, out):
        """Many-file put and get through a peer, one invocation each; returns files/s."""
        sub = os.path.join(p["dir"], "small")
        n = len(srcs)

        def pprep():
            self.rm(sub)
            os.makedirs(sub)
            os.sync()
            self.warm(srcs)
        runs = self.repeat(pprep, ["sh", "-c", '"$@" && sync', "sh"] + p["mput"](srcs, "small"))
        pput = statistics.median(n / r.wall for r in runs)

        def gprep():
            self.rm(out)
            os.makedirs(out)
            self.drop_caches()
        runs = self.repeat(gprep, p["mget"](names, "small", out))
        if sorted(os.listdir(out)) != names:
            raise BenchError("%s fetched the wrong set of files" % p["name"])
        self.rm(sub)
        return pput, statistics.median(n / r.wall for r in runs)

    def bench_small(self, n, peers):
        log("%d x 4 KiB: starting a fresh cluster" % n)
        self.cluster_restart()
        d = self.mkdir("data", "small")
        names = ["s%05d" % i for i in range(n)]
        srcs = [os.path.join(d, x) for x in names]
        for s in srcs:
            self.make_file(s, 4096)
        env = self.dfs_env()
        out = self.path("out", "small")

        def put_prep():
            self.warm(srcs)

        # Each run stores new files, as the floor's and the peers' runs do: the sources
        # are linked under names of the run's own. Replacing files is measured apart.
        fresh = []

        def put_new(i):
            sub = self.mkdir("data", "small-run%d" % i)
            paths = [os.path.join(sub, "r%d-%s" % (i, x)) for x in names]
            for src, dst in zip(srcs, paths):
                os.link(src, dst)
            fresh.extend(os.path.basename(x) for x in paths)
            return self.dfs_cmd("put", *paths)
        log("%d x 4 KiB: dfs put of new files" % n)
        put = self.repeat(put_prep, put_new, env)
        log("%d x 4 KiB: dfs put replacing files" % n)
        replace = self.repeat(put_prep, self.dfs_cmd("put", *srcs), env)

        def get_prep():
            self.rm(out)
            os.makedirs(out)
            self.drop_caches()

        def check():
            for x in names:
                if not self.same(os.path.join(d, x), os.path.join(out, x)):
                    raise BenchError("dfs get returned different bytes for " + x)
        log("%d x 4 KiB: dfs get" % n)
        get = self.repeat(get_prep, self.dfs_cmd("get", *names, "-d", out), env, check)
        hwm = self.server_hwm()
        run(self.dfs_cmd("delete", *(names + fresh)), env=env)

        fl = self.path("floor")
        a, b = os.path.join(fl, "a"), os.path.join(fl, "b")

        def fput_prep():
            self.rm(a, b)
            os.sync()
            self.warm(srcs)
        fput = self.repeat(fput_prep, ["sh", "-c", 'cp -r "$0" "$1" && cp -r "$0" "$2" && sync',
                                       d, a, b])

        def fget_prep():
            self.rm(a)
            self.drop_caches()
        fget = self.repeat(fget_prep, ["cp", "-r", d, a])
        self.rm(a, b)

        def fps(runs):
            return statistics.median(n / r.wall for r in runs)
        lab = "%d x 4K" % n
        fp, fg = fps(fput), fps(fget)
        self.row("put %s dfs, new files (one invocation)" % lab, fps(put), "files/s", fp,
                 "cp x2 + sync", ">= 0.30", fmt="%.0f")
        self.row("put %s dfs, replacing them" % lab, fps(replace), "files/s", fp,
                 "cp x2 + sync", fmt="%.0f")
        self.row("put %s floor: cp -r x2 + sync" % lab, fp, "files/s", fp, "cp x2 + sync",
                 fmt="%.0f")
        peer_rows = []
        for p in peers:
            if "error" in p or "mput" not in p:
                continue
            log("%s: %s" % (lab, p["name"]))
            try:
                peer_rows.append((p["name"],) + self.peer_small(p, srcs, names, out))
            except BenchError as e:
                log("%s: not measured: %s" % (p["name"], e))
                self.row_missing("put/get %s %s" % (lab, p["name"]), str(e)[:200])
        for name, pput, _ in peer_rows:
            self.row("put %s %s (+ sync)" % (lab, name), pput, "files/s", fp, "cp x2 + sync",
                     fmt="%.0f")
        self.row("get %s dfs (one invocation)" % lab, fps(get), "files/s", fg, "cp",
                 ">= 0.50", fmt="%.0f")
        self.row("get %s floor: cp -r" % lab, fg, "files/s", fg, "cp", fmt="%.0f")
        for name, _, pget in peer_rows:
            self.row("get %s %s" % (lab, name), pget, "files/s", fg, "cp", fmt="%.0f")
        for p in peers:
            if "mput" not in p and "error" not in p:
                self.row_missing("put/get %s %s" % (lab, p["name"]),
                                 "nfs-cp copies one file per invocation")
        self.row("peak RSS client put %s" % lab, max(r.rss_kib for r in put) / 1024, "MiB",
                 RSS_TARGET_MIB, "64 MiB", "<= 1.00")
        self.row("peak RSS client get %s" % lab, max(r.rss_kib for r in get) / 1024, "MiB",
                 RSS_TARGET_MIB, "64 MiB", "<= 1.00")
        for k, h in enumerate(hwm, 1):
            self.row("peak RSS DFS%d %s (put+get)" % (k, lab), h / 1024, "MiB", RSS_TARGET_MIB,
                     "64 MiB", "<= 1.00")
        self.rm(out, d)

    def bench_scale(self, n):
        """dfs status and the first page of dfs list with n files stored, beside the same
        commands on a near-empty cluster of the same run."""
        lab = "%d files" % n
        log("%s: starting a fresh cluster" % lab)
        # A cluster folder of its own, removed afterwards: no later workload sees the files.
        self.cluster_down()
        main_dir, self.cluster_dir = self.cluster_dir, self.path("cluster-scale")
        try:
            self.scale_rows(n, lab)
        finally:
            self.cluster_down()
            # Each stored file is several files and folders on each server: with 100000
            # of them this takes minutes.
            log("%s: removing the cluster folder" % lab)
            self.rm(self.cluster_dir)
            self.cluster_dir = main_dir

    def scale_rows(self, n, lab):
        self.cluster_restart()
        env = self.dfs_env()
        d = self.mkdir("data", "scale")
        # One file, so the first page of the near-empty listing is not empty.
        one = os.path.join(self.mkdir("data", "scale-one"), "first")
        with open(one, "wb") as f:
            f.write(os.urandom(100))
        run(self.dfs_cmd("put", one, "--as", "scale-first"), env=env)
        status = self.dfs_cmd("status")
        # The first page: dfs list --limit where the tool has it, else what head reads of the
        # whole listing before closing the pipe.
        helptext = run(self.dfs_cmd("list", "--help"), check=False, env=env).stdout
        if "--limit" in helptext:
            page, what = self.dfs_cmd("list", "--limit", "100"), "dfs list --limit 100"
        else:
            page = ["sh", "-c", '"$@" | head -n 100 >/dev/null', "sh"] + self.dfs_cmd("list")
            what = "dfs list | head -n 100"
        log("%s: dfs status and %s near-empty" % (lab, what))
        st0 = self.repeat(lambda: None, status, env)
        ls0 = self.repeat(lambda: None, page, env)

        log("%s: writing %d x 100 B local files" % (lab, n))
        per = 1000
        for i in range(n):
            sub = os.path.join(d, "d%03d" % (i // per))
            if i % per == 0:
                os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, "f%06d" % i), "wb") as f:
                f.write(os.urandom(100))
        log("%s: dfs put -r (one invocation)" % lab)
        t0 = time.monotonic()
        run(self.dfs_cmd("put", "-r", d, "--as", "scale"), env=env)
        fill = time.monotonic() - t0
        self.rm(d)
        quota = [x.strip() for x in run(self.dfs_cmd("status"), env=env).stdout.splitlines()
                 if x.strip().startswith("quota")]
        log("%s: stored in %.0f s; dfs status: %s" % (lab, fill, " ".join(quota)))

        log("%s: dfs status and %s with %d files" % (lab, what, n))
        st1 = self.repeat(lambda: None, status, env)
        ls1 = self.repeat(lambda: None, page, env)

        def med(runs):
            return statistics.median(r.wall for r in runs) * 1000
        self.row("dfs status, near-empty", med(st0), "ms", fmt="%.0f")
        self.row("dfs status with %d files" % n, med(st1), "ms", med(st0),
                 "near-empty status", "<= 1.50", fmt="%.0f")
        self.row("first page: %s, near-empty" % what, med(ls0), "ms", fmt="%.0f")
        self.row("first page: %s with %d files" % (what, n), med(ls1), "ms", med(ls0),
                 "near-empty list", "<= 1.50", fmt="%.0f")
        self.row("put -r of %d x 100 B to fill the cluster" % n, n / fill, "files/s",
                 fmt="%.0f")

    def bench_rebuild(self, gib):
        """A wiped DFS2 rebuilding itself from its neighbours, beside a local copy of as many
        bytes; then dfs put/get slowed by such a rebuild."""
        lab = size_label(int(gib * GIB)) if int(gib * GIB) % MIB == 0 else "%g GiB" % gib
        log("rebuild %s: starting a fresh cluster" % lab)
        # A cluster folder of its own, removed afterwards: no other workload's files in it.
        self.cluster_down()
        main_dir, self.cluster_dir = self.cluster_dir, self.path("cluster-rebuild")
        try:
            self.rebuild_rows(int(gib * GIB), lab)
        finally:
            self.cluster_down()
            self.rm(self.cluster_dir, self.path("data", "rebuild"), self.path("floor"))
            self.cluster_dir = main_dir

    def server_log(self, k):
        return os.path.join(self.cluster_dir, "logs", "dfsd-%d.log" % k)

    @staticmethod
    def log_time(line):
        """The UTC time of a dfsd log line ("2026-12-07T00:15:30.108Z dfsd[2] ..."), or None."""
        m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z dfsd\[", line)
        if not m:
            return None
        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
        return t.replace(tzinfo=datetime.timezone.utc).timestamp()

    def wipe_start(self, k):
        """Stops server k, empties its data folder and starts it on the empty folder; returns
        the log's length before the start, where this run's lines begin."""
        self.cluster("stop", str(k))
        data = os.path.join(self.cluster_dir, "data", str(k))
        for x in os.listdir(data):
            self.rm(os.path.join(data, x))
        # The neighbours read what they hold from disk, as the local copy does.
        self.drop_caches()
        offset = os.path.getsize(self.server_log(k))
        self.cluster("start", str(k))
        return offset

    def watch_rebuild(self, k, offset, until, timeout, left_ok=False):
        """Polls server k's log from offset every 50 ms until a line containing until shows,
        or one saying the pass ended with work left if left_ok; returns dfsd's first line's
        time, that line's time, that line and the warnings logged before it."""
        begun = None
        warns = []
        end = time.monotonic() + timeout
        with open(self.server_log(k), errors="replace") as f:
            f.seek(offset)
            part = ""
            while True:
                part += f.read()
                lines = part.split("\n")
                part = lines.pop()
                for line in lines:
                    t = self.log_time(line)
                    if t is None:
                        continue
                    begun = begun or t
                    if " warn: " in line:
                        warns.append(line)
                    if "recovery pass ended with work left" in line:
                        if left_ok:
                            return begun, t, line, warns
                        raise BenchError("DFS%d's rebuild did not finish: %s" %
                                         (k, " / ".join(warns[-3:] + [line])))
                    if until in line:
                        return begun, t, line, warns
                if time.monotonic() > end:
                    raise BenchError("DFS%d logged no '%s' within %d s" % (k, until, timeout))
                time.sleep(0.05)

    def rebuild_rows(self, target, lab):
        self.cluster_restart()
        env = self.dfs_env()
        # DFS2 holds 2 of the 4 chunks of every file: half of what is stored.
        piece = 256 * MIB
        count = max(1, -(-2 * target // piece))
        size = -(-2 * target // count // MIB) * MIB
        d = self.mkdir("data", "rebuild")
        src = os.path.join(d, "src")
        self.make_file(src, size)
        names = []
        for i in range(count):
            names.append(os.path.join(d, "r%03d" % i))
            os.link(src, names[-1])
        log("rebuild %s: dfs put of %d x %s" % (lab, count, size_label(size)))
        run(self.dfs_cmd("put", *names), env=env)
        for x in names:
            os.unlink(x)

        # The reference: as many bytes copied between two folders of the same disk.
        fl = self.mkdir("floor")
        ref, dst = os.path.join(fl, "ref"), os.path.join(fl, "copy")
        with open(ref, "wb") as f:
            left = target
            with open(src, "rb") as s:
                while left > 0:
                    s.seek(0)
                    while left > 0:
                        b = s.read(min(left, 8 * MIB))
                        if not b:
                            break
                        f.write(b)
                        left -= len(b)

        def ref_prep():
            self.rm(dst)
            self.drop_caches()
        log("rebuild %s: local copy (reference)" % lab)
        cp = self.mbps(target, self.repeat(ref_prep, ["sh", "-c", 'cp "$0" "$1" && sync',
                                                      ref, dst]))
        self.rm(ref, dst)

        # No dfs command may run now: a client's login repairs what it finds behind.
        timeout = 120 + target // (5 * 1000 * 1000)
        quiet = []
        for i in range(self.args.reps):
            log("rebuild %s: wiping DFS2 and timing its rebuild (%d of %d)"
                % (lab, i + 1, self.args.reps))
            quiet.append(self.rebuild_once(target, self.wipe_start(2), timeout))
        wall = statistics.median(r[0] for r in quiet)
        written = statistics.median(r[1] for r in quiet)
        rate = statistics.median(r[1] / r[0] / 1e6 for r in quiet)
        log("rebuild %s: %d bytes in %.2f s, %.1f MB/s (local copy %.1f MB/s)"
            % (lab, written, wall, rate, cp))

        # dfs put and get of one file, idle and while DFS2 rebuilds; small enough to end
        # before the rebuild does.
        csize = min(256 * MIB, max(MIB, target // 8 // MIB * MIB))
        clab = size_label(csize)
        csrc = os.path.join(d, "client")
        self.make_file(csrc, csize)
        # Named to come first in the pass's byte order: rebuilt before the client replaces
        # it, not while it does.
        cname = "client"
        out = self.path("out", cname)
        self.mkdir("out")

        def transfer():
            """Times a put then a get; returns the two Timed and the wall clock at each end."""
            self.rm(out)
            self.warm([csrc])
            p = self.timed(self.dfs_cmd("put", csrc, "--as", cname), env)
            p_end = time.time()
            g = self.timed(self.dfs_cmd("get", cname, "-o", out), env)
            g_end = time.time()
            if not self.same(csrc, out):
                raise BenchError("dfs get returned different bytes for " + cname)
            return p, g, p_end, g_end
        log("rebuild %s: dfs put and get of %s, idle" % (lab, clab))
        idle = [transfer() for _ in range(self.args.reps + 1)][1:]
        busy, beside, put_early, get_early = [], [], 0, 0
        for i in range(self.args.reps):
            log("rebuild %s: dfs put and get of %s while DFS2 rebuilds (%d of %d)"
                % (lab, clab, i + 1, self.args.reps))
            offset = self.wipe_start(2)
            # The client starts once the pass does (dfsd waits a moment before it).
            self.watch_rebuild(2, offset, "recovery: ", timeout)
            busy.append(transfer())
            # Replacing a file the pass is copying can leave it for the pass's next retry.
            beside.append(self.rebuild_once(target, offset, timeout, left_ok=True))
            done = beside[-1][2]
            put_early += done < busy[-1][2]
            get_early += done < busy[-1][3]
        self.rm(out, csrc, src)

        def rates(runs, i):
            return self.mbps(csize, [r[i] for r in runs])
        early = " (in %d of %d runs the rebuild ended first: understates the slowdown)"
        reps = self.args.reps
        self.row("rebuild of a wiped DFS2 holding %s: dfsd start to pass done" % lab, wall,
                 "s", fmt="%.2f")
        self.row("rebuild of a wiped DFS2 holding %s: bytes written" % lab, written / MIB,
                 "MiB", fmt="%.0f")
        self.row("rebuild of a wiped DFS2 holding %s" % lab, rate, "MB/s", cp, "cp + sync",
                 ">= 0.50")
        self.row("rebuild floor: cp %s + sync" % lab, cp, "MB/s", cp, "cp + sync")
        self.row("put %s dfs, idle (reference)" % clab, rates(idle, 0), "MB/s")
        self.row("put %s dfs while DFS2 rebuilds%s"
                 % (clab, early % (put_early, reps) if put_early else ""), rates(busy, 0),
                 "MB/s", rates(idle, 0), "idle put")
        self.row("get %s dfs, idle (reference)" % clab, rates(idle, 1), "MB/s")
        self.row("get %s dfs while DFS2 rebuilds%s"
                 % (clab, early % (get_early, reps) if get_early else ""), rates(busy, 1),
                 "MB/s", rates(idle, 1), "idle get")
        self.row("rebuild of DFS2 beside that put and get",
                 statistics.median(r[1] / r[0] / 1e6 for r in beside), "MB/s", rate,
                 "quiet rebuild")
        left = [r[3] for r in beside if r[3]]
        if left:
            self.notes.append("In %d of %d rebuilds beside a client, DFS2's pass ended with "
                              "work left (it retries by itself); its log: %s"
                              % (len(left), reps, " / ".join(left[0])))

    def rebuild_once(self, target, offset, timeout, left_ok=False):
        """Waits for DFS2's pass to end; returns its wall seconds from dfsd's start, the bytes
        it wrote, the wall clock at its end and the warnings of a pass that ended with work
        left (None if it did not)."""
        begun, done, line, warns = self.watch_rebuild(2, offset, "recovery pass done", timeout,
                                                      left_ok)
        m = re.search(r"\((\d+) bytes\)", line)
        written = int(m.group(1)) if m else 0
        if written < target * 0.9:
            raise BenchError("DFS2's rebuild wrote %d bytes, expected about %d: %s"
                             % (written, target, line))
        left = (warns[-3:] + [line]) if "work left" in line else None
        return done - begun, written, done, left

    def bench_mount(self, size, n):
        """dfs mount beside dfs put/get: one big file in and out, n small files in and out."""
        lab = size_label(size)
        if not os.path.exists("/dev/fuse") or not shutil.which("fusermount3"):
            self.row_missing("mount %s" % lab, "no /dev/fuse or no fusermount3 (package fuse3)")
            return
        log("mount: starting a fresh cluster")
        self.cluster_restart()
        env = self.dfs_env()
        mnt = self.mkdir("mnt")
        # In the foreground, so the run can wait for it to end after the unmount.
        log_f = open(self.path("mount.log"), "w")
        proc = subprocess.Popen(self.dfs_cmd("mount", "-f", mnt, "--cache",
                                             self.mkdir("mount-cache")),
                                env=env, stdout=log_f, stderr=subprocess.STDOUT)

        def unmount():
            if os.path.ismount(mnt):
                run(["fusermount3", "-u", mnt], check=False)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log_f.close()
        self.cleanups.append(unmount)
        deadline = time.monotonic() + 30
        while not os.path.ismount(mnt):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("dfs mount did not mount: " +
                                 open(self.path("mount.log")).read()[-300:])
            time.sleep(0.1)
        src = self.path("data", "m" + lab)
        self.make_file(src, size)
        name = "mount-" + lab
        inside = os.path.join(mnt, name)
        out = self.path("out", name)
        self.mkdir("out")

        def check():
            if not self.same(src, out):
                raise BenchError("reading %s back gave different bytes" % name)

        def get_prep():
            self.rm(out)
            self.drop_caches()
        log("mount %s: dfs put, cp into the mount" % lab)
        put = self.repeat(lambda: self.warm([src]), self.dfs_cmd("put", src, "--as", name), env)
        cp_in = self.repeat(lambda: self.warm([src]), ["cp", src, inside])
        log("mount %s: dfs get, cp out of the mount" % lab)
        get = self.repeat(get_prep, self.dfs_cmd("get", name, "-o", out), env, check)
        cp_out = self.repeat(get_prep, ["cp", inside, out], after_warmup=check)
        self.rm(src, out)
        run(self.dfs_cmd("delete", name), env=env)
        self.row("put %s dfs (reference)" % lab, self.mbps(size, put), "MB/s")
        self.row("put %s cp into the mount" % lab, self.mbps(size, cp_in), "MB/s",
                 self.mbps(size, put), "dfs put")
        self.row("get %s dfs (reference)" % lab, self.mbps(size, get), "MB/s")
        self.row("get %s cp out of the mount (sequential read)" % lab, self.mbps(size, cp_out),
                 "MB/s", self.mbps(size, get), "dfs get")

        if n > 0:
            d = self.mkdir("data", "msmall")
            for i in range(n):
                self.make_file(os.path.join(d, "s%05d" % i), 4096)
            small_out = self.path("out", "msmall")
            log("mount: cp -r of %d x 4 KiB into and out of the mount" % n)
            # Each run copies into a folder of its own, as new files.
            cin = self.repeat(lambda: self.warm(
                [os.path.join(d, x) for x in os.listdir(d)]),
                lambda i: ["cp", "-r", d, os.path.join(mnt, "small-%d" % i)])

            def small_prep():
                self.rm(small_out)
                self.drop_caches()
            cout = self.repeat(small_prep, ["cp", "-r", os.path.join(mnt, "small-1"), small_out])
            if sorted(os.listdir(small_out)) != sorted(os.listdir(d)):
                raise BenchError("cp -r out of the mount fetched the wrong set of files")
            lab_n = "%d x 4K" % n
            self.row("put %s cp -r into the mount" % lab_n,
                     statistics.median(n / r.wall for r in cin), "files/s", fmt="%.0f")
            self.row("get %s cp -r out of the mount" % lab_n,
                     statistics.median(n / r.wall for r in cout), "files/s", fmt="%.0f")
            self.rm(d, small_out)
        unmount()

    def tls_ceiling(self):
        """MB/s that TLS 1.3 moves over loopback here, memory to memory (bench/tls_ceiling.py),
        or None when it could not be measured."""
        p = run([sys.executable, os.path.join(SRC, "bench", "tls_ceiling.py"), self.path(),
                 "--bytes", str(256 * MIB if self.args.quick else GIB)], check=False)
        try:
            return float(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            log("TLS ceiling not measured: " + (p.stdout + p.stderr)[-300:])
            return None

    def openssl_speed(self):
        p = run(["openssl", "speed", "-evp", "aes-128-gcm", "-seconds", "1" if self.args.quick
                 else "3", "-bytes", "16384", "-mr"], check=False)
        m = re.findall(r"^\+F:\d+:[^:]+:([\d.]+)", p.stdout, re.M)
        if not m:
            raise BenchError("openssl speed printed no result: " + p.stdout[-300:])
        return float(m[-1])

    # --- report ------------------------------------------------------------------------------

    def machine(self):
        cpu = "?"
        try:
            m = re.search(r"^model name\s*:\s*(.*)$", open("/proc/cpuinfo").read(), re.M)
            cpu = m.group(1).strip() if m else platform.machine()
        except OSError:
            pass
        mem = "?"
        m = re.search(r"^MemTotal:\s+(\d+) kB", open("/proc/meminfo").read(), re.M)
        if m:
            mem = "%.1f GiB" % (int(m.group(1)) / MIB)
        df = run(["df", "-hT", self.tmp], check=False).stdout.splitlines()
        disk = "?"
        if len(df) > 1:
            f = df[1].split()
            disk = "%s (%s, %s, %s free) holding %s" % (f[0], f[1], f[2], f[4],
                                                      os.path.dirname(self.tmp))
        load = open("/proc/loadavg").read().split()[:3]
        return [("CPU", cpu), ("cores", str(os.cpu_count())), ("memory", mem),
                ("kernel", "%s %s" % (platform.system(), platform.release())), ("disk", disk),
                ("load average (1, 5, 15 min) at the start / end",
                 "%s / %s (other work on the machine skews the figures)" %
                 (self.load_start, " ".join(load)))]

    def table_text(self):
        head = ("figure", "value", "unit", "reference", "ratio", "target")
        rows = [head] + self.rows
        # A "not measured" row only names its figure and reason; it sets no column width.
        w = [max(len(r[i]) for r in rows if i == 0 or not r[1].startswith("not measured"))
             for i in range(6)]
        lines = []
        for i, r in enumerate(rows):
            if r[1].startswith("not measured"):
                lines.append(r[0].ljust(w[0]) + "  " + r[1])
                continue
            lines.append("  ".join(c.ljust(w[j]) if j in (0, 2, 3, 5) else c.rjust(w[j])
                                   for j, c in enumerate(r)).rstrip())
            if i == 0:
                lines.append("  ".join("-" * x for x in w))
        return "\n".join(lines)

    def table_md(self):
        lines = ["| figure | value | unit | reference | ratio | target |",
                 "| --- | ---: | --- | --- | ---: | --- |"]
        for r in self.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        return "\n".join(lines)

    def write_md(self, out, started, elapsed, cmdline):
        a = self.args
        text = ["# dfs benchmarks", "",
                "The latest run of `bench/run`; it rewrites this file. Every figure is the "
                "median of %d repetition%s after one discarded warm-up. MB/s counts file data, "
                "1 MB = 10^6 bytes." % (a.reps, "" if a.reps == 1 else "s"), "",
                "## Run", "",
                "- date: %s (took %.0f s)" % (started.strftime("%Y-%m-%d %H:%M:%S %z"), elapsed),
                "- command: `%s`" % cmdline,
                "- dfs build: `%s` (CMAKE_BUILD_TYPE=%s), 4 servers on 127.0.0.1, TLS required"
                % (os.path.relpath(self.build, SRC) if self.build.startswith(SRC) else
                   self.build, self.build_type)]
        for k, v in self.machine():
            text.append("- %s: %s" % (k, v))
        text += ["", "## Results", "", self.table_md(), ""]
        text += ["## What is measured", "",
                 "- **put**: `dfs put FILE --as NAME` with FILE in the page cache; it returns "
                 "once both copies of every chunk are on disk (the servers fsync). Floor: `cp` "
                 "of the file to two destinations, then `sync` (a local store keeping two "
                 "copies).",
                 "- **get**: `dfs get NAME -o FILE` after `sync; echo 3 > "
                 "/proc/sys/vm/drop_caches`. Floor: `cp` of the file to one destination after "
                 "the same cache drop.",
                 "- **small files**: one `dfs put FILE...` and one `dfs get NAME... -d DIR` of "
                 "4 KiB files; floors are `cp -r` twice + `sync`, and `cp -r`. Like the floor's "
                 "and the peers' runs, each put run stores new files (under names of its own); "
                 "a second row puts the same names again and again, so that every run after "
                 "the first replaces files (a new version each, the replaced one kept, the one "
                 "before it removed).",
                 "- **many files**: `dfs status` and the first page of `dfs list` (`dfs list "
                 "--limit 100`, or what `dfs list | head -n 100` reads where the tool has no "
                 "--limit) with N files of 100 bytes stored by one `dfs put -r`, against the "
                 "same commands with one file stored, on a cluster of its own in the same run "
                 "(`--scale-files N`).",
                 "- **rebuild**: on a cluster of its own, files of up to 256 MiB are stored "
                 "until DFS2 holds G GiB (`--rebuild-gib G`; it holds 2 of the 4 chunks of "
                 "every file); DFS2 is stopped, its data folder emptied, the page cache "
                 "dropped, and DFS2 started. Its wall time runs from dfsd's first log line to "
                 "its `recovery pass done` line (both timestamps from its log, which is read "
                 "every 50 ms; no dfs command runs meanwhile), so it includes dfsd's start-up "
                 "and the moment it waits before its first pass; MB/s counts the bytes that "
                 "line reports; the median of --reps rebuilds, none discarded. Reference: `cp` "
                 "of a file of G GiB to another folder of the same disk, then `sync`, after "
                 "the same cache drop. Then `dfs put` and `dfs get` of one file (G/8 GiB, at "
                 "most 256 MiB; the get reads the file just put) on the idle cluster, and "
                 "again, --reps times, once a freshly wiped DFS2 has begun its pass; their "
                 "rows say so if the rebuild ended first.",
                 "- **peers** on loopback: an rsync daemon (plain, `rsync -W`), `scp -c "
                 "aes128-gcm@openssh.com` to a local sshd (encrypted), and NFSv3 through "
                 "NFS-Ganesha (FSAL VFS) with `nfs-cp`. Their puts are timed with a `sync` "
                 "after them, since none flushes to disk on its own.",
                 "- **peak RSS**: the client's from `/usr/bin/time` (max over the runs); each "
                 "server's VmHWM after the workload, on a cluster restarted for it.",
                 "- **CPU**: client user+sys plus the servers' utime+stime deltas, per GiB of "
                 "file data. The reference is the cost of the AES-128-GCM passes TLS needs at "
                 "the `openssl speed` rate (4 for a put: two copies encrypted and decrypted; 2 "
                 "for a get).",
                 "- The TLS ceiling is what TLS 1.3 moves over loopback on four connections at "
                 "once, memory to memory, with the cipher suite OpenSSL picks (as for dfs): no "
                 "file is read or written and nothing is checksummed (`bench/tls_ceiling.py`, "
                 "Python's `ssl`, one read per 16 KiB TLS record). A get over TLS cannot be "
                 "faster than it.",
                 "- ratio = value / reference; targets are for dfs with TLS on.", ""]
        if self.notes:
            text += ["## Notes", ""] + ["- " + n for n in self.notes] + [""]
        text += ["## How to run", "",
                 "```sh",
                 "bench/run                       # 256 MiB and 1 GiB, 3 reps, 1000 small "
                 "files, status and list with 100000 files, a 1 GiB rebuild, all peers",
                 "bench/run --sizes 64M --reps 5  # other sizes and repetitions",
                 "bench/run --scale-files 10000   # status and list with fewer files (0 skips)",
                 "bench/run --rebuild-gib 0.25    # rebuild a server holding 256 MiB (0 skips)",
                 "bench/run --no-peers --out /tmp/b.md",
                 "bench/run --quick --no-peers --out /tmp/b.md   # seconds; what the smoke test "
                 "runs",
                 "```", "",
                 "It runs as root (to drop the page cache and start the peers' daemons), "
                 "uses `$DFS_BUILD` or builds `build-release` (CMAKE_BUILD_TYPE=Release), "
                 "installs missing peer packages with apt-get (`rsync openssh-server "
                 "openssh-client nfs-ganesha nfs-ganesha-vfs libnfs-utils`), and removes every "
                 "server and file it started or wrote when it ends.", ""]
        tmp = out + ".tmp"
        with open(tmp, "w") as f:
            f.write("\n".join(text))
        os.replace(tmp, out)

    def main(self):
        a = self.args
        started = datetime.datetime.now().astimezone()
        t0 = time.monotonic()
        self.load_start = " ".join(open("/proc/loadavg").read().split()[:3])
        if not os.access("/usr/bin/time", os.X_OK):
            raise BenchError("/usr/bin/time is needed (apt-get install time)")
        self.find_build()
        rpcbind_before = run(["rpcinfo", "-p", "127.0.0.1"], check=False).returncode == 0
        self.cleanups.append(lambda: self.stop_rpcbind(rpcbind_before, started))
        self.mkdir("data")
        peers = []
        if not a.no_peers and not a.mount_only:
            self.ensure_packages(a.quick)
        # The cluster comes first: it starts rpcbind, which NFS-Ganesha needs.
        self.cluster_restart()
        if not a.no_peers and not a.mount_only:
            peers = self.start_peers()
        log("openssl speed -evp aes-128-gcm")
        aes = self.openssl_speed()
        log("TLS 1.3 over loopback, memory to memory")
        self.ceiling = self.tls_ceiling()
        work = [("%s" % size_label(x), lambda x=x: self.bench_size(x, peers, aes))
                for x in a.sizes]
        if a.small_files > 0:
            work.append(("%d x 4K" % a.small_files, lambda: self.bench_small(a.small_files,
                                                                             peers)))
        if a.mount_only:
            work = []
        if not a.no_mount:
            work.append(("mount", lambda: self.bench_mount(max(a.sizes), a.small_files)))
        if a.rebuild_gib > 0 and not a.mount_only:
            work.append(("rebuild", lambda: self.bench_rebuild(a.rebuild_gib)))
        if a.scale_files > 0 and not a.mount_only:
            work.append(("%d files" % a.scale_files, lambda: self.bench_scale(a.scale_files)))
        for label, fn in work:
            # A failing workload is a finding: report it and go on with the next one.
            try:
                fn()
            except BenchError as e:
                log("%s: error: %s" % (label, e))
                self.failed = True
                self.row_missing("%s workload" % label, "failed: " + str(e)[:300])
                self.notes.append("The %s workload failed: %s%s" % (label, e, self.server_logs()))
        self.row("floor: openssl speed -evp aes-128-gcm (16 KiB)", aes / 1e6, "MB/s", None,
                 "", "", fmt="%.0f")
        if self.ceiling:
            self.row("ceiling: TLS 1.3 over loopback, memory to memory (4 connections)",
                     self.ceiling, "MB/s", None, "", "", fmt="%.0f")
        else:
            self.row_missing("ceiling: TLS 1.3 over loopback", "bench/tls_ceiling.py failed")
        self.notes += ["Installed for the peers: " + " ".join(self.installed)] \
            if self.installed else []
        print(self.table_text())
        cmdline = "bench/run " + " ".join(sys.argv[1:])
        self.write_md(a.out, started, time.monotonic() - t0, cmdline.strip())
        log("wrote " + a.out)
        if self.failed:
            raise BenchError("some workloads failed; see the table")

    def server_logs(self):
        """The servers' last warnings, to explain a failed workload."""
        out = []
        for k in range(1, 5):
            try:
                lines = open(os.path.join(self.cluster_dir, "logs", "dfsd-%d.log" % k),
                             errors="replace").read().splitlines()
            except OSError:
                continue
            warn = [x for x in lines if " warn: " in x or " error: " in x][-3:]
            out += ["DFS%d: %s" % (k, x) for x in warn]
        return (" Server log lines: " + " / ".join(out)) if out else ""

    def stop_rpcbind(self, was_running, started):
        """Stops rpcbind only if this run started it and nothing else registered since."""
        if was_running or self.rpc_programs() - {100000}:
            return
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                comm = open("/proc/%s/comm" % pid).read().strip()
                st = os.stat("/proc/" + pid)
            except OSError:
                continue
            if comm == "rpcbind" and st.st_mtime >= started.timestamp() - 1:
                os.kill(int(pid), signal.SIGTERM)


def main():
    ap = argparse.ArgumentParser(
        prog="bench/run",
        description="Start a fresh local 4-server dfs cluster with TLS and measure put/get "
                    "throughput, small-file rates, peak RSS and CPU per GiB beside local floors "
                    "(cp, cp + sync, openssl speed) and peers (rsync daemon, scp, NFS-Ganesha); "
                    "print a table and write it to --out.")
    ap.add_argument("--sizes", default="256M 1G",
                    help='file sizes, space separated (default "256M 1G")')
    ap.add_argument("--reps", type=int, default=3, help="measured repetitions (default 3)")
    ap.add_argument("--small-files", type=int, default=1000, metavar="N",
                    help="number of 4 KiB files (default 1000; 0 skips)")
    ap.add_argument("--scale-files", type=int, default=100000, metavar="N",
                    help="dfs status and the first page of dfs list with N files of 100 bytes "
                         "stored, against a near-empty cluster (default 100000; 0 skips)")
    ap.add_argument("--rebuild-gib", type=float, default=1.0, metavar="G",
                    help="time a wiped server holding G GiB rebuilding itself from the others, "
                         "beside a local copy of as many bytes, and dfs put/get while it does "
                         "(default 1; 0 skips)")
    ap.add_argument("--quick", action="store_true",
                    help="tiny run for the smoke test: --sizes 1M --reps 1 --small-files 20, "
                         "--scale-files 0, --rebuild-gib 0.03125, only the rsync peer")
    ap.add_argument("--no-peers", action="store_true", help="skip rsync, scp and NFS-Ganesha")
    ap.add_argument("--no-mount", action="store_true",
                    help="skip the dfs mount workload (cp into and out of a FUSE mount)")
    ap.add_argument("--mount-only", action="store_true",
                    help="only the dfs mount workload (with dfs put/get as its reference)")
    ap.add_argument("--out", default=os.path.join(SRC, "docs", "BENCHMARKS.md"),
                    help="markdown report (default docs/BENCHMARKS.md)")
    a = ap.parse_args()
    if a.quick:
        given = sys.argv[1:]
        if not any(x.startswith("--sizes") for x in given):
            a.sizes = "1M"
        if not any(x.startswith("--reps") for x in given):
            a.reps = 1
        if not any(x.startswith("--small-files") for x in given):
            a.small_files = 20
        if not any(x.startswith("--scale-files") for x in given):
            a.scale_files = 0
        if not any(x.startswith("--rebuild-gib") for x in given):
            a.rebuild_gib = 1 / 32
    try:
        a.sizes = [parse_size(s) for s in a.sizes.split()]
    except argparse.ArgumentTypeError as e:
        ap.error(str(e))
    if a.reps < 1 or a.small_files < 0 or a.scale_files < 0 or not a.sizes or \
            not 0 <= a.rebuild_gib <= 1024:
        ap.error("--reps must be >= 1, --small-files and --scale-files >= 0, --rebuild-gib "
                 "from 0 to 1024, --sizes not empty")
    a.out = os.path.abspath(a.out)

    b = Bench(a)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        b.main()
        return 0
    except BenchError as e:
        log("error: %s" % e)
        return 1
    finally:
        b.cleanup()


if __name__ == "__main__":
    sys.exit(main())
