"""cdp.py -- drive Debian's headless Chromium over the Chrome DevTools
Protocol, with nothing but the Python standard library.

A minimal WebSocket client (RFC 6455: client frames masked, text frames,
fragmentation, ping/pong, 64-bit lengths for screenshots) carries CDP
commands and events. Browser.start() runs `chromium --headless` with its
own profile in a temp dir and --remote-debugging-port=0, reads the port
Chromium chose from DevToolsActivePort, and attaches to its first page.

The page's console errors, uncaught exceptions, log errors (failed loads,
CSP violations) and failed or >= 400 network requests are collected in
Page.problems, so that a test can assert a page loaded cleanly.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request


class WebSocket:
    def __init__(self, url, timeout=30):
        assert url.startswith("ws://")
        hostport, _, path = url[5:].partition("/")
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET /%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n") % (path, hostport, key)
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise IOError("websocket: connection closed during handshake")
            head += chunk
        head, _, self.buf = head.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise IOError("websocket: handshake refused: %r" % head[:200])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise IOError("websocket: connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text, opcode=1):
        data = text.encode() if isinstance(text, str) else text
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self):
        """One whole text message (control frames answered on the way)."""
        parts = []
        while True:
            b0, b1 = self._read(2)
            fin, opcode, n = b0 & 0x80, b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if opcode == 9:                      # ping
                self.send(data, opcode=10)
                continue
            if opcode == 10:
                continue
            if opcode == 8:
                raise IOError("websocket: closed by peer")
            parts.append(data)
            if fin:
                return b"".join(parts).decode()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Page:
    """One tab: send(method, **params) -> result; events collected."""

    def __init__(self, ws_url, domains=("Page", "Runtime", "Log", "Network")):
        self.ws = WebSocket(ws_url)
        self.next_id = 0
        self.events = []
        self.problems = []
        self.requests = {}                       # requestId -> url
        for domain in domains:
            self.send(domain + ".enable")

    def _event(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        self.events.append(msg)
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
            self.problems.append("console.%s: %s" % (p["type"], args))
        elif m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.problems.append("exception: %s %s" % (d.get("text", ""),
                                 d.get("exception", {}).get("description", "")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.problems.append("log: %s %s" % (e.get("text", ""), e.get("url", "")))
        elif m == "Network.requestWillBeSent":
            self.requests[p["requestId"]] = p["request"]["url"]
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            self.problems.append("request failed: %s %s" % (self.requests.get(p["requestId"], "?"),
                                                            p.get("errorText", "")))
        elif m == "Network.responseReceived" and p["response"]["status"] >= 400:
            self.problems.append("HTTP %d: %s" % (p["response"]["status"], p["response"]["url"]))

    def send(self, method, timeout=30, **params):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        deadline = time.time() + timeout
        while True:
            self.ws.settimeout(max(0.1, deadline - time.time()))
            msg = json.loads(self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self._event(msg)

    def pump(self, seconds):
        """Take in events for a while."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            self.ws.settimeout(max(0.05, deadline - time.time()))
            try:
                msg = json.loads(self.ws.recv())
            except socket.timeout:
                break
            if "method" in msg:
                self._event(msg)

    def navigate(self, url, timeout=30):
        self.problems = []
        self.events = []
        self.send("Page.navigate", url=url)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events):
                return
            self.pump(0.2)
        raise RuntimeError("page did not load: " + url)

    def eval(self, expr, timeout=30):
        """The value of a JavaScript expression (promises awaited)."""
        r = self.send("Runtime.evaluate", timeout=timeout, expression=expr, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError("eval %s: %s" % (expr[:80], r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    def wait_for(self, expr, timeout=10, interval=0.1):
        """Poll until expr is truthy; returns (value, seconds waited) or
        (None, timeout)."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            v = self.eval(expr)
            if v:
                return v, time.time() - t0
            self.pump(interval)
        return None, time.time() - t0

    def screenshot(self, path):
        r = self.send("Page.captureScreenshot", format="png")
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def close(self):
        self.ws.close()


class Browser:
    def __init__(self, width=1600, height=1000, domains=("Page", "Runtime", "Log", "Network")):
        self.dir = tempfile.mkdtemp(prefix="cityd-chromium-")
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        if exe is None:
            raise RuntimeError("chromium not found (tools/deps.sh installs Debian's chromium)")
        args = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio", "--hide-scrollbars",
                "--force-device-scale-factor=1", "--lang=zh-CN", "--disable-dev-shm-usage",
                "--window-size=%d,%d" % (width, height), "--user-data-dir=" + self.dir,
                "--remote-debugging-port=0", "--remote-allow-origins=*", "about:blank"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        deadline = time.time() + 60
        while not os.path.exists(port_file) or os.path.getsize(port_file) == 0:
            if time.time() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not start")
            time.sleep(0.1)
        self.port = int(open(port_file).read().split()[0])
        targets = []
        while not targets and time.time() < deadline:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % self.port) as r:
                targets = [t for t in json.load(r) if t.get("type") == "page"]
            if not targets:
                time.sleep(0.1)
        self.page = Page(targets[0]["webSocketDebuggerUrl"], domains)

    def close(self):
        if getattr(self, "page", None):
            self.page.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
