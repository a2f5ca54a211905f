"""slowhttptest (the standard slow-client DoS tool) against a server, with a canary.

Why this exists: "slow clients cannot take the server down" is measured as issue 16 measured
it: while slowhttptest holds its connections, a canary `curl` asks every 0.5 s with a 3 s
limit, and the share it gets answered is the result. Used by tests/attacks/test_slowhttptest.py
(small, bounded runs) and benchmarks/slow_clients.py (2000 connections, 40 s).
"""
from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

# slowhttptest's modes and the path each one targets (tests/apps.py routes)
MODES = {"slowloris": ("-H", "/hello"), "slow_body": ("-B", "/sha256"),
         "slow_read": ("-X", "/download?n=1048576")}


def have_slowhttptest() -> bool:
    return shutil.which("slowhttptest") is not None and shutil.which("curl") is not None


@dataclass
class Canary:
    """curl every `every` seconds (each with a `limit` second cap), counting answered ones."""
    url: str
    every: float = 0.5
    limit: float = 3.0
    ok: int = 0
    sent: int = 0
    failures: list[str] = field(default_factory=list)

    def run(self, duration: float) -> None:
        procs: list[tuple[float, subprocess.Popen[str]]] = []
        t0 = time.monotonic()
        t_end = t0 + duration
        next_at = t0
        while time.monotonic() < t_end:
            procs.append((round(time.monotonic() - t0, 1), subprocess.Popen(
                ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time",
                 str(self.limit), self.url], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True)))
            self.sent += 1
            next_at += self.every
            time.sleep(max(0.0, next_at - time.monotonic()))
        for at, p in procs:
            out, _ = p.communicate(timeout=self.limit + 10)
            if out.strip() == "200":
                self.ok += 1
            else:  # what curl saw ('000': no answer within the limit) and when it asked
                self.failures.append(f"{out.strip() or f'exit {p.returncode}'} at {at}s")

    @property
    def ratio(self) -> float:
        return self.ok / self.sent if self.sent else 0.0


def attack_argv(mode: str, base_url: str, connections: int, rate: int, length: int) -> list[str]:
    flag, path = MODES[mode]
    argv = ["slowhttptest", flag, "-c", str(connections), "-r", str(rate), "-l", str(length),
            "-u", base_url + path, "-p", "3"]
    if mode == "slowloris":
        argv += ["-i", "10"]
    elif mode == "slow_body":
        argv += ["-i", "10", "-s", "8192"]
    else:  # a tiny advertised window, 32 bytes read every 5 s, the response asked 3 times
        argv += ["-k", "3", "-n", "5", "-w", "512", "-y", "1024", "-z", "32"]
    return argv


def run_attack(mode: str, base_url: str, connections: int, rate: int, length: int,
               warmup: float = 0.0) -> Canary:
    """Run one slowhttptest attack for `length` seconds, the canary asking from `warmup`
    seconds in until the attack's end (issue 16: 80 asks in a 40 s run)."""
    canary = Canary(base_url + "/hello")
    attack = subprocess.Popen(attack_argv(mode, base_url, connections, rate, length),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        thread = threading.Thread(target=canary.run, args=(length - warmup,), daemon=True)
        thread.start()
        thread.join(length + 30)
    finally:
        attack.terminate()
        try:
            attack.wait(10)
        except subprocess.TimeoutExpired:
            attack.kill()
            attack.wait(5)
    return canary
