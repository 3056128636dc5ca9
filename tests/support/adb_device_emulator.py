"""The DEVICE side of the adb protocol on loopback, for testing ``benchmarks.device`` with the real adb.

The real adb server connects to it with ``adb connect 127.0.0.1:PORT``. Implemented from AOSP's
``protocol.txt`` (24-byte message header, CNXN/OPEN/OKAY/WRTE/CLSE, one OKAY per WRTE), ``SYNC.TXT``
(STAT v1, SEND/DATA/DONE, RECV, QUIT) and ``shell_protocol.h`` (shell_v2 packets: 1-byte id + 4-byte
length; stdout 1, stderr 2, exit 3). Authentication is not required: the device answers the host's CNXN
with its own CNXN (what an adbd with auth disabled does), or, with ``unauthorized=True``, with an AUTH
token it never accepts, so the host lists it as ``unauthorized``.

A tiny shell interprets the commands ``benchmarks.device`` sends (getprop, mkdir, chmod, rm, ls, test,
touch, rmdir,
``> file 2>&1`` redirection, a trailing ``; echo __RC__$?`` sentinel) over an in-memory file system,
and fakes the two official runners with output in their real formats. ``runner_mode`` selects
failure behaviours: ``ok``, ``fail`` (runner error output, non-zero exit), ``hang`` (never returns),
``vanish`` (drops the TCP connection and stops listening: the device disappears).
"""
from __future__ import annotations

import re
import shlex
import socket
import struct
import threading
import time

A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE = (struct.unpack("<I", c)[0] for c in
                                                  (b"CNXN", b"AUTH", b"OPEN", b"OKAY", b"CLSE", b"WRTE"))
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024
S_IFREG, S_IFDIR = 0o100000, 0o040000

LITERT_OK = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Num threads: [{threads}]
INFO: Graph: [{graph}]
INFO: #threads used for CPU inference: [{threads}]
INFO: Loaded model {graph}
INFO: Initialized TensorFlow Lite runtime.
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
INFO: Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.
INFO: The input model file size (MB): 5.21763
INFO: Initialized session in 48.112ms.
INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds.
INFO: count=41 first=19858 curr=11626 min=11408 max=19858 avg=12138.5 std=1156

INFO: Running benchmark for at least {runs} iterations and at least 1 seconds but terminate if exceeding 150 seconds.
INFO: count={runs} first=11689 curr=11423 min=11292 max=12318 avg=11523.7 std=168

INFO: Inference timings in us: Init: 48112, First inference: 1.9858e+04, Warmup (avg): 12138.5, Inference (avg): 1.15237e+04
INFO: Note: as the benchmark tool itself affects memory footprint, the following is only APPROXIMATE to the actual memory footprint of the model at runtime. Take the information at your one's own risk.
INFO: Memory footprint delta from the start of the tool (MB): init=7.67578 overall=9.39453
"""
LITERT_FAIL = """\
INFO: STARTING!
INFO: Log parameter values verbosely: [0]
INFO: Graph: [{graph}]
INFO: Loaded model {graph}
ERROR: Didn't find op for builtin opcode 'FULLY_CONNECTED' version '12'. An older version of this builtin might be supported. Are you using an old TFLite binary with a newer model?
ERROR: Registration failed.
ERROR: Failed to initialize the interpreter
ERROR: Benchmarking failed.
"""
LITERT_NO_GRAPH = "INFO: STARTING!\nERROR: Could not open '{graph}'.\nERROR: Failed to mmap model {graph}\nERROR: Benchmarking failed.\n"
ET_OK = """\
I 00:00:00.000853 executorch:executor_runner.cpp:170] Resetting threadpool with num threads = {threads}
I 00:00:00.003126 executorch:executor_runner.cpp:239] Model file {model} is loaded.
I 00:00:00.003162 executorch:executor_runner.cpp:249] Using method forward
I 00:00:00.003170 executorch:executor_runner.cpp:300] Setting up planned buffer 0, size 1505280.
I 00:00:00.012933 executorch:executor_runner.cpp:326] Method loaded.
I 00:00:00.013012 executorch:executor_runner.cpp:357] Inputs prepared.
I 00:00:00.421310 executorch:executor_runner.cpp:389] Model executed successfully {runs} time(s) in {total:f} ms.
I 00:00:00.421355 executorch:executor_runner.cpp:398] 1 outputs:
Output 0: tensor(sizes=[1, 512], [0.0123, -0.0456, 0.0789, ..., 0.0311, -0.0222, 0.0133])
"""
ET_FAIL = """\
I 00:00:00.000853 executorch:executor_runner.cpp:170] Resetting threadpool with num threads = {threads}
I 00:00:00.003126 executorch:executor_runner.cpp:239] Model file {model} is loaded.
I 00:00:00.003162 executorch:executor_runner.cpp:249] Using method forward
E 00:00:00.004012 executorch:method.cpp:749] Missing operator: [0] aten::_native_batch_norm_legit_no_training.out
E 00:00:00.004040 executorch:method.cpp:987] There are 1 instructions don't have corresponding operator registered. See logs for details
F 00:00:00.004060 executorch:executor_runner.cpp:318] In function main(), assert failed (method.ok()): Loading of method forward failed with status 0x14
Aborted
"""


class EmulatedDevice:
    def __init__(self, model="Pixel 7", abi="arm64-v8a", release="14", sdk="34", manufacturer="Google",
                 shell_v2=True, unauthorized=False):
        self.props = {"ro.product.model": model, "ro.product.cpu.abi": abi, "ro.build.version.release": release,
                      "ro.build.version.sdk": sdk, "ro.product.manufacturer": manufacturer,
                      "ro.product.name": model.lower().replace(" ", "_"), "ro.product.device": "panther"}
        self.shell_v2, self.unauthorized = shell_v2, unauthorized
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, int] = {}
        self.dirs: set[str] = {"/", "/data", "/data/local", "/data/local/tmp"}
        self.runner_mode = "ok"
        self.commands: list[str] = []   # every shell command received, for assertions
        self.services: list[str] = []   # every OPEN destination
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))  # loopback only
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.serial = f"127.0.0.1:{self.port}"
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    # ------------------------------------------------------------------------------ transport
    def _accept(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=_Connection(self, conn).serve, daemon=True).start()

    def vanish(self):
        """The phone is unplugged: stop listening and drop every connection."""
        self._stop.set()
        for s in [self.listener, *self._conns]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    close = vanish

    # ------------------------------------------------------------------------------ the shell
    def run_shell(self, command: str, stream) -> tuple[bytes, bytes, int]:
        """Run one shell command line; returns (stdout, stderr, exit code)."""
        self.commands.append(command)
        sentinel = re.search(r";\s*echo\s+(\S*?)\$\?\s*$", command)
        if sentinel:
            command = command[:sentinel.start()]
        out, err, rc = b"", b"", 0
        for part in [p for p in command.split(";") if p.strip()]:
            o, e, rc = self._run_simple(part.strip(), stream)
            out, err = out + o, err + e
        if sentinel:
            out += f"{sentinel.group(1)}{rc}\n".encode()
            rc = 0
        return out, err, rc

    def _run_simple(self, line: str, stream) -> tuple[bytes, bytes, int]:
        argv = shlex.split(line)
        redirect = None
        if "2>&1" in argv:
            argv.remove("2>&1")
            if ">" in argv:
                i = argv.index(">")
                redirect = argv[i + 1]
                del argv[i:i + 2]
        out, err, rc = self._exec(argv, stream)
        if redirect:
            self._write(redirect, out + err)
            out, err = b"", b""
        return out, err, rc

    def _exec(self, argv, stream):
        cmd, args = argv[0], argv[1:]
        if cmd == "getprop":
            return (self.props.get(args[0], "") + "\n").encode() if args else b"", b"", 0
        if cmd == "mkdir":
            for d in [a for a in args if not a.startswith("-")]:
                self._mkdirs(d)
            return b"", b"", 0
        if cmd == "chmod":
            mode, paths = int(args[0], 8), args[1:]
            for p in paths:
                if p not in self.files:
                    return b"", f"chmod: {p}: No such file or directory\n".encode(), 1
                self.modes[p] = mode
            return b"", b"", 0
        if cmd == "rm":
            for p in [a for a in args if not a.startswith("-")]:
                for f in [f for f in self.files if f == p or f.startswith(p.rstrip("/") + "/")]:
                    del self.files[f]
                self.dirs = {d for d in self.dirs if not (d == p or d.startswith(p.rstrip("/") + "/"))}
            return b"", b"", 0
        if cmd == "test":  # test -e|-f|-d PATH
            flag, p = (args[0], args[1]) if len(args) == 2 else ("-e", args[-1])
            p = p.rstrip("/") or "/"
            is_file, is_dir = p in self.files, p in self.dirs
            ok = {"-e": is_file or is_dir, "-f": is_file, "-d": is_dir}.get(flag, False)
            return b"", b"", 0 if ok else 1
        if cmd == "touch":
            for p in args:
                if p not in self.files:
                    self._write(p, b"")
            return b"", b"", 0
        if cmd == "rmdir":
            for p in args:
                p = p.rstrip("/")
                below = [x for x in [*self.files, *self.dirs] if x.startswith(p + "/")]
                if p not in self.dirs:
                    return b"", f"rmdir: '{p}': No such file or directory\n".encode(), 1
                if below:
                    return b"", f"rmdir: '{p}': Directory not empty\n".encode(), 1
                self.dirs.discard(p)
            return b"", b"", 0
        if cmd == "ls":
            return "".join(f"{f}\n" for f in sorted(self.files) if f.startswith(args[-1])).encode(), b"", 0
        if cmd.startswith("/") or cmd.startswith("./"):
            return self._run_binary(cmd, args, stream)
        return b"", f"/system/bin/sh: {cmd}: inaccessible or not found\n".encode(), 127

    def _run_binary(self, path, args, stream):
        if path not in self.files:
            return b"", f"/system/bin/sh: {path}: inaccessible or not found\n".encode(), 127
        if not self.modes.get(path, 0o644) & 0o111:
            return b"", f"/system/bin/sh: {path}: can't execute: Permission denied\n".encode(), 126
        if not self.files[path].startswith(b"\x7fELF"):
            return b"", f"/system/bin/sh: {path}: not executable: magic 6F6F\n".encode(), 126
        opts = dict(a.lstrip("-").split("=", 1) for a in args if "=" in a)
        if self.runner_mode == "hang":
            while not self._stop.wait(0.2):
                pass
            return b"", b"", 137
        if self.runner_mode == "vanish":
            threading.Thread(target=self.vanish, daemon=True).start()
            time.sleep(5)
            return b"", b"", 1
        name = path.rsplit("/", 1)[-1]
        if name == "benchmark_model":
            graph, threads, runs = opts.get("graph", ""), opts.get("num_threads", "-1"), opts.get("num_runs", "50")
            if graph not in self.files:
                return b"", LITERT_NO_GRAPH.format(graph=graph).encode(), 1
            text = (LITERT_FAIL if self.runner_mode == "fail" else LITERT_OK).format(graph=graph, threads=threads,
                                                                                      runs=runs)
            return b"", text.encode(), 1 if self.runner_mode == "fail" else 0
        if name == "executor_runner":
            model, threads, runs = opts.get("model_path", "model.pte"), opts.get("cpu_threads", "-1"), \
                int(opts.get("num_executions", "1"))
            if model not in self.files:
                return b"", (f"F 00:00:00.000412 executorch:executor_runner.cpp:224] In function main(), assert "
                             f"failed (file_loader.ok()): FileDataLoader::from() failed: 0x22\nAborted\n").encode(), 134
            if self.runner_mode == "fail":
                return ET_FAIL.format(model=model, threads=threads).encode(), b"", 134
            return ET_OK.format(model=model, threads=threads, runs=runs, total=8.123456 * runs).encode(), b"", 0
        return b"", b"", 0

    # ------------------------------------------------------------------------------ file system
    def _mkdirs(self, path):
        parts = path.rstrip("/").split("/")
        for i in range(2, len(parts) + 1):
            self.dirs.add("/".join(parts[:i]))

    def _write(self, path, data, mode=0o644):
        self._mkdirs(path.rsplit("/", 1)[0] or "/")
        self.files[path] = data
        self.modes[path] = mode

    def stat(self, path):
        if path in self.files:
            return S_IFREG | (self.modes.get(path, 0o644) & 0o777), len(self.files[path]), int(time.time())
        if path.rstrip("/") in self.dirs or path == "/":
            return S_IFDIR | 0o771, 4096, int(time.time())
        return 0, 0, 0


def _checksum(data: bytes) -> int:
    return sum(data) & 0xFFFFFFFF


class _Connection:
    """One TCP connection from the adb server: the message loop and its streams."""

    def __init__(self, device: EmulatedDevice, sock: socket.socket):
        self.device, self.sock = device, sock
        self.wlock = threading.Lock()
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.max_payload = MAX_PAYLOAD

    def send(self, cmd, arg0, arg1, data=b""):
        header = struct.pack("<6I", cmd, arg0, arg1, len(data), _checksum(data), cmd ^ 0xFFFFFFFF)
        with self.wlock:
            self.sock.sendall(header + data)

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def serve(self):
        try:
            while True:
                cmd, arg0, arg1, length, _crc, magic = struct.unpack("<6I", self._recv_exact(24))
                if magic != cmd ^ 0xFFFFFFFF:
                    raise ConnectionError("bad magic")
                data = self._recv_exact(length) if length else b""
                self._dispatch(cmd, arg0, arg1, data)
        except (ConnectionError, OSError):
            pass
        finally:
            for s in list(self.streams.values()):
                s.closed(remote=True)
            try:
                self.sock.close()
            except OSError:
                pass

    def _dispatch(self, cmd, arg0, arg1, data):
        dev = self.device
        if cmd == A_CNXN:
            self.max_payload = min(arg1 or MAX_PAYLOAD, MAX_PAYLOAD)
            if dev.unauthorized:
                self.send(A_AUTH, 1, 0, b"\x01" * 20)  # AUTH TOKEN; any signature is then ignored
                return
            features = "shell_v2,cmd,fixed_push_mkdir" if dev.shell_v2 else "cmd"
            props = ";".join(f"{k}={dev.props[k]}" for k in ("ro.product.name", "ro.product.model",
                                                               "ro.product.device"))
            banner = f"device::{props};ro.product.cpu.abi={dev.props['ro.product.cpu.abi']};features={features}"
            self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, banner.encode())
        elif cmd == A_AUTH:
            # unauthorized device: a SIGNATURE (2) never verifies -> a fresh TOKEN; the host then offers its
            # RSAPUBLICKEY (3), which waits for the user to accept the prompt on the phone (never, here)
            if arg0 == 2:
                self.send(A_AUTH, 1, 0, b"\x02" * 20)
        elif cmd == A_OPEN:
            dest = data.rstrip(b"\0").decode()
            dev.services.append(dest)
            local = self.next_id
            self.next_id += 1
            stream = _Stream(self, local, arg0, dest)
            self.streams[local] = stream
            self.send(A_OKAY, local, arg0)
            threading.Thread(target=stream.run, daemon=True).start()
        elif cmd == A_WRTE:
            stream = self.streams.get(arg1)
            if stream is None:
                self.send(A_CLSE, 0, arg0)
                return
            stream.inbox_put(data)
            self.send(A_OKAY, arg1, arg0)
        elif cmd == A_OKAY:
            stream = self.streams.get(arg1)
            if stream:
                stream.acked.set()
        elif cmd == A_CLSE:
            stream = self.streams.pop(arg1, None)
            if stream:
                stream.closed(remote=True)


class _Stream:
    def __init__(self, conn: _Connection, local: int, remote: int, dest: str):
        self.conn, self.local, self.remote, self.dest = conn, local, remote, dest
        self.buf = bytearray()
        self.cv = threading.Condition()
        self.acked = threading.Event()
        self.acked.set()
        self.eof = False

    def inbox_put(self, data):
        with self.cv:
            self.buf += data
            self.cv.notify_all()

    def closed(self, remote=False):
        with self.cv:
            self.eof = True
            self.cv.notify_all()
        self.acked.set()

    def read(self, n) -> bytes:
        with self.cv:
            while len(self.buf) < n and not self.eof:
                self.cv.wait(1)
            if len(self.buf) < n:
                raise ConnectionError("stream closed")
            out = bytes(self.buf[:n])
            del self.buf[:n]
            return out

    def write(self, data: bytes):
        for i in range(0, len(data), self.conn.max_payload):
            if not self.acked.wait(30) or self.eof:
                raise ConnectionError("no OKAY from host")
            self.acked.clear()
            self.conn.send(A_WRTE, self.local, self.remote, data[i:i + self.conn.max_payload])

    def close(self):
        self.acked.wait(5)
        self.conn.streams.pop(self.local, None)
        try:
            self.conn.send(A_CLSE, self.local, self.remote)
        except OSError:
            pass

    # ------------------------------------------------------------------------------ services
    def run(self):
        try:
            if self.dest.startswith("shell"):
                self.shell()
            elif self.dest.startswith("sync:"):
                self.sync()
        except (ConnectionError, OSError):
            pass
        finally:
            self.close()

    def shell(self):
        # "shell:CMD" (legacy: raw bytes, no exit status) or "shell,v2,raw:CMD" (packets with an exit status)
        head, _, command = self.dest.partition(":")
        v2 = "v2" in head.split(",")
        out, err, rc = self.conn.device.run_shell(command, self)
        if v2:
            pkt = lambda i, d: struct.pack("<BI", i, len(d)) + d  # noqa: E731
            payload = (pkt(1, out) if out else b"") + (pkt(2, err) if err else b"") + pkt(3, bytes([rc & 0xFF]))
            self.write(payload)
        else:
            self.write(out + err)

    def sync(self):
        dev = self.conn.device
        while True:
            ident, length = struct.unpack("<4sI", self.read(8))
            if ident == b"QUIT":
                return
            if ident == b"STAT":
                mode, size, mtime = dev.stat(self.read(length).decode())
                self.write(struct.pack("<4sIII", b"STAT", mode, size, mtime))
            elif ident == b"SEND":
                spec = self.read(length).decode()
                path, _, mode = spec.rpartition(",")
                data = bytearray()
                while True:
                    ident, n = struct.unpack("<4sI", self.read(8))
                    if ident == b"DATA":
                        data += self.read(n)
                    elif ident == b"DONE":
                        break
                    else:
                        self.write(struct.pack("<4sI", b"FAIL", 13) + b"bad sync id  ")
                        return
                dev._write(path, bytes(data), int(mode) & 0o777)
                self.write(struct.pack("<4sI", b"OKAY", 0))
            elif ident == b"RECV":
                path = self.read(length).decode()
                if path not in dev.files:
                    msg = b"No such file or directory"
                    self.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                    continue
                data = dev.files[path]
                for i in range(0, len(data), 64 * 1024):
                    chunk = data[i:i + 64 * 1024]
                    self.write(struct.pack("<4sI", b"DATA", len(chunk)) + chunk)
                self.write(struct.pack("<4sI", b"DONE", 0))
            else:
                msg = f"unknown sync request {ident!r}".encode()
                self.write(struct.pack("<4sI", b"FAIL", len(msg)) + msg)
                return
