#!/usr/bin/python3
"""`import smbd` against Samba: readinto a 256 MiB numpy array, errors as exception types,
many threads reading at once. Run by tests/samba/run-suite with PYTHONPATH naming the module
(bazel-bin/python, or an installed prefix) and the SAMBA_* environment of samba-server."""
import hashlib
import os
import sys
import threading
import unittest

import numpy
import smbd

ENV = os.environ


def url(share="share"):
    return "smb://%s@%s:%s/%s" % (ENV["SAMBA_USER"], ENV["SAMBA_HOST"], ENV["SAMBA_PORT"], share)


def connect(**kw):
    kw.setdefault("password", ENV["SAMBA_PASSWORD"])
    kw.setdefault("transport", "tcp")
    return smbd.connect(url(kw.pop("share", "share")), **kw)


class CuttingProxy:
    """Forwards loopback TCP connections to Samba; cut() ends every one open now."""

    def __init__(self, port):
        import socket
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        import socket
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.pairs.append((c, s))
            for a, b in ((c, s), (s, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        import socket
        try:
            while True:
                data = a.recv(1 << 18)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        a.close()  # each socket is the source of one pump, which closes it

    def cut(self):
        import socket
        with self.lock:
            for pair in self.pairs:
                for x in pair:
                    try:
                        x.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            self.pairs = []

    def close(self):
        self.cut()
        self.listener.close()


class PythonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.share_dir = ENV["SAMBA_SHARE_DIR_SHARE"]
        # 256 MiB of reproducible bytes, written on the server's disk directly.
        cls.big = numpy.random.default_rng(42).integers(0, 256, 256 << 20, dtype=numpy.uint8)
        with open(os.path.join(cls.share_dir, "py-big.bin"), "wb") as f:
            f.write(cls.big.tobytes())
        cls.big_sha = hashlib.sha256(cls.big.tobytes()).hexdigest()

    def test_readinto_a_numpy_array_equals_the_file(self):
        with connect() as c:
            self.assertEqual(c.transport, "tcp")
            st = c.stat("py-big.bin")
            self.assertEqual(st["size"], 256 << 20)
            self.assertFalse(st["is_dir"])
            dst = numpy.zeros(256 << 20, dtype=numpy.uint8)
            with c.open("py-big.bin") as f:
                n = f.readinto(dst)
            self.assertEqual(n, 256 << 20)
            self.assertEqual(hashlib.sha256(dst.tobytes()).hexdigest(), self.big_sha)
            self.assertTrue(f.closed)

    def test_a_registered_buffer_reads_and_writes_the_same(self):
        with connect() as c:
            self.assertEqual(c.rdma_note, "RDMA channel off: connected over tcp")
            buf = numpy.zeros(2 << 20, dtype=numpy.uint8)
            with c.register(buf) as reg:
                self.assertEqual(len(reg), 2 << 20)
                buf[: 1 << 20] = self.big[: 1 << 20]
                with c.open("py-reg.bin", "w") as f:
                    f.write(buf[: 1 << 20])
                    self.assertEqual(f.readinto(buf[1 << 20 :], 0), 1 << 20)
                self.assertTrue(numpy.array_equal(buf[1 << 20 :], self.big[: 1 << 20]))
            self.assertTrue(reg.released)
            c.remove("py-reg.bin")

    def test_write_read_rename_list_remove(self):
        payload = bytes(range(256)) * 4099
        with connect() as c:
            with c.open("py-w.bin", "w") as f:
                self.assertEqual(f.write(payload), len(payload))
                self.assertEqual(f.tell(), len(payload))
                f.write(memoryview(b"tail"), offset=len(payload))
                f.seek(0)
                self.assertEqual(f.read(), payload + b"tail")
                self.assertEqual(f.read(5, offset=3), payload[3:8])
                f.truncate(10)
                self.assertEqual(f.stat()["size"], 10)
            c.mkdir("py-dir")
            c.rename("py-w.bin", "py-dir/moved.bin")
            self.assertEqual(c.listdir("py-dir"), ["moved.bin"])
            with open(os.path.join(self.share_dir, "py-dir", "moved.bin"), "rb") as disk:
                self.assertEqual(disk.read(), payload[:10])
            c.remove("py-dir/moved.bin")
            c.rmdir("py-dir")
            self.assertNotIn("py-dir", c.listdir())

    def test_byte_range_locks_between_two_clients(self):
        with connect() as a, connect() as b:
            with a.open("py-lock.bin", "w") as f:
                f.write(b"x" * 8192)
            with a.open("py-lock.bin", "r+") as fa, b.open("py-lock.bin", "r+") as fb:
                fa.lock(0, 4096)
                with self.assertRaises(smbd.LockedError) as e:
                    fb.lock(100, 10, exclusive=False)
                self.assertIsInstance(e.exception, BlockingIOError)
                self.assertEqual(e.exception.ntstatus, 0xC0000055)  # STATUS_LOCK_NOT_GRANTED
                with self.assertRaises(smbd.LockedError):
                    fb.write(b"y", offset=5)                        # STATUS_FILE_LOCK_CONFLICT
                with self.assertRaises(smbd.TimeoutError):
                    fb.lock(0, 10, wait=True, timeout=0.2)
                fa.unlock(0, 4096)
                fb.lock(0, 10, wait=True, timeout=5)
                fb.write(b"y", offset=5)
                with self.assertRaises(ValueError):
                    fb.lock(0, 1, wait=True, timeout=0)

    def test_reconnect_survives_a_cut_connection(self):
        proxy = CuttingProxy(int(ENV["SAMBA_PORT"]))
        try:
            u = "smb://%s@127.0.0.1:%d/durable" % (ENV["SAMBA_USER"], proxy.port)
            data = os.urandom(8 << 20)
            with smbd.connect(u, password=ENV["SAMBA_PASSWORD"], transport="tcp",
                              kerberos="never", reconnect=30) as c:
                with c.open("py-reconnect.bin", "w") as f:
                    f.write(data)
                    proxy.cut()  # the file was opened durable: it comes back
                    self.assertEqual(f.read(len(data), offset=0), data)
                c.remove("py-reconnect.bin")
            with self.assertRaises(ValueError):
                smbd.connect(u, password=ENV["SAMBA_PASSWORD"], transport="tcp", reconnect=-1)
        finally:
            proxy.close()

    @unittest.skipUnless(ENV.get("SAMBA_HOST6"), "no IPv6 on loopback: Samba lists one address")
    def test_two_channels_share_the_reads(self):
        # Samba lists 127.0.0.1 (1 Gbit/s) and ::1 (2 Gbit/s): the second channel goes to ::1 and
        # carries two thirds.
        data = os.urandom(32 << 20)
        with connect(share="durable", kerberos="never", channels=2) as c:
            self.assertIn("2 channels", c.multichannel_note)
            with c.open("py-mc.bin", "w") as f:
                f.write(data)
            with c.open("py-mc.bin") as f:
                self.assertEqual(f.read(len(data), offset=0), data)
            chans = c.channels
            self.assertEqual(len(chans), 2)
            self.assertEqual(chans[1][0], "::1")
            for address, read, written, up in chans:
                self.assertTrue(up)
                self.assertGreater(read, 8 << 20, address)
                self.assertGreater(written, 8 << 20, address)
            c.remove("py-mc.bin")
        with self.assertRaises(ValueError):
            connect(channels=0)

    def test_errors_are_the_right_exception_types(self):
        with connect() as c:
            with self.assertRaises(smbd.NotFoundError) as e:
                c.open("no/such/file")
            self.assertIsInstance(e.exception, FileNotFoundError)
            self.assertIsInstance(e.exception, smbd.Error)
            self.assertEqual(e.exception.ntstatus, 0xC000003A)  # OBJECT_PATH_NOT_FOUND
            c.open("py-x.bin", "w").close()
            with self.assertRaises(FileExistsError):
                c.open("py-x.bin", "x")
            with self.assertRaises(ValueError):
                c.open("py-x.bin", "a")
            f = c.open("py-x.bin")
            f.close()
            with self.assertRaises(ValueError):  # I/O on a closed file
                f.read(1)
            c.remove("py-x.bin")
        with self.assertRaises(ValueError):  # the connection is closed
            c.stat("x")
        with self.assertRaises(smbd.AuthenticationError) as e:
            connect(password="not the password")
        self.assertEqual(e.exception.ntstatus, 0xC000006D)  # LOGON_FAILURE
        self.assertNotIn("not the password", str(e.exception))
        with self.assertRaises(ValueError):
            smbd.connect("http://example.com/")
        with self.assertRaises(ConnectionError):
            smbd.connect("smb://127.0.0.1:1/share", anonymous=True, transport="tcp", timeout=2)

    def test_the_readme_example_runs(self):
        readme = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "README.md")
        text = open(readme).read()
        start = text.index("```python\n") + len("```python\n")
        code = text[start:text.index("```", start)]
        scope = {"URL": url(), "PASSWORD": ENV["SAMBA_PASSWORD"]}
        exec(compile(code, "README.md", "exec"), scope)  # the example as a user would run it
        self.assertEqual(scope["got"], 256 << 20)
        self.assertEqual(hashlib.sha256(scope["array"].tobytes()).hexdigest(), self.big_sha)
        self.assertEqual(scope["missing"], 0xC000003A)

    def test_many_threads_read_one_file_at_once(self):
        chunk = 4 << 20
        results = {}
        errors = []
        with connect() as c:
            with c.open("py-big.bin") as f:
                def work(i):
                    try:
                        buf = bytearray(chunk)
                        n = f.readinto(buf, offset=i * chunk)
                        results[i] = (n, hashlib.sha256(buf).hexdigest())
                    except Exception as e:  # reported below
                        errors.append(e)
                threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
        self.assertEqual(errors, [])
        for i in range(16):
            want = hashlib.sha256(self.big[i * chunk:(i + 1) * chunk].tobytes()).hexdigest()
            self.assertEqual(results[i], (chunk, want), i)


if __name__ == "__main__":
    # The result line tools/test counts: "python passed failed skipped".
    result = unittest.main(exit=False, verbosity=2).result
    failed = len(result.failures) + len(result.errors)
    print("PYTHON-RESULT %d %d %d" % (result.testsRun - failed - len(result.skipped), failed,
                                      len(result.skipped)))
    sys.exit(1 if failed else 0)
