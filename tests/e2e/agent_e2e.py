#!/usr/bin/env python3
"""End-to-end tests of `keycast agent` on real IP multicast between network
namespaces this test creates and removes (tests/e2e/README.md).

Topology (one run; names carry the test's PID and a random suffix):

    kc-node 10.77.0.1   keycast server: ticket + key services
    kc-snd  10.77.0.10  sender agent (+ ffmpeg)
    kc-r1   10.77.0.11  receiver agent, stays authorised
    kc-r2   10.77.0.12  receiver agent, revoked mid-stream (or a late joiner)
    kc-r3   10.77.0.13  not a member: its agent waits, a raw socket sniffs
    kc-att  10.77.0.20  attacker: captures, replays, modifies, injects
            all on bridge br0 (multicast snooping off) in kc-sw, where
            tcpdump records everything that crosses it

Scenarios: relay, transparent, latejoin. Needs root and `ip netns`: without
them it fails with a message (CI runs as root); it never skips.
"""
import argparse
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "nshelper.py")
SUBNET = "10.77.0"
HOSTS = {"node": 1, "snd": 10, "r1": 11, "r2": 12, "r3": 13, "att": 20}
STATUS = "127.0.0.1:9464"
PREFIX = "kce2e-"
DEADLINE_SECONDS = 160  # below the CTest timeout, so cleanup always runs


class TestFailure(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)
    log("ok: " + msg)


def run(argv, timeout=30, check_rc=True):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check_rc and r.returncode != 0:
        raise TestFailure(f"`{' '.join(argv)}` failed ({r.returncode}): {r.stderr.strip()}")
    return r


def preflight(keycast, need_ffmpeg):
    if os.geteuid() != 0:
        sys.exit("agent e2e: FAIL: needs root (network namespaces, veth, bridge, TUN). "
                 "Run as root, as CI does; this test does not skip.")
    missing = [t for t in ["ip", "tcpdump"] + (["ffmpeg", "ffprobe"] if need_ffmpeg else [])
               if subprocess.run(["which", t], capture_output=True).returncode != 0]
    if missing:
        sys.exit(f"agent e2e: FAIL: missing {', '.join(missing)}; run scripts/setup.sh")
    if not os.access(keycast, os.X_OK):
        sys.exit(f"agent e2e: FAIL: no keycast executable at {keycast}")
    probe = f"{PREFIX}probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"agent e2e: FAIL: `ip netns add` does not work here ({r.stderr.strip()})")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def sweep_stale():
    """Removes namespaces left by runs of this test that died (their PID is gone)."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(PREFIX + r"(\d+)-", name)
        if not m or os.path.exists(f"/proc/{m.group(1)}"):
            continue
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in pids:  # started by that run of this test
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        log(f"removed stale namespace {name}")


class Lab:
    """The namespaces, the bridge and every process started in them."""

    def __init__(self, keycast, workdir):
        self.keycast = keycast
        self.dir = workdir
        self.tag = f"{PREFIX}{os.getpid()}-{random.randrange(16**4):04x}"
        self.namespaces = []
        self.procs = []  # (name, Popen)

    def ns(self, host):
        return f"{self.tag}-{host}"

    def ip(self, host):
        return f"{SUBNET}.{HOSTS[host]}"

    def up(self):
        sw = self.ns("sw")
        run(["ip", "netns", "add", sw])
        self.namespaces.append(sw)
        run(["ip", "-n", sw, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"])
        run(["ip", "-n", sw, "link", "set", "br0", "up"])
        for host in HOSTS:
            n = self.ns(host)
            run(["ip", "netns", "add", n])
            self.namespaces.append(n)
            run(["ip", "link", "add", "eth0", "netns", n, "type", "veth", "peer", "name", "v" + host, "netns", sw])
            run(["ip", "-n", sw, "link", "set", "v" + host, "master", "br0", "up"])
            run(["ip", "-n", n, "addr", "add", f"{self.ip(host)}/24", "dev", "eth0"])
            run(["ip", "-n", n, "link", "set", "eth0", "up"])
            run(["ip", "-n", n, "link", "set", "lo", "up"])
            run(["ip", "-n", n, "route", "add", "224.0.0.0/4", "dev", "eth0"])
            run(["ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
                 "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.eth0.rp_filter=0"])
        log(f"namespaces {self.tag}-{{sw,{','.join(HOSTS)}}} up")

    def start(self, host, argv, name, stdout=None):
        out = stdout or open(os.path.join(self.dir, f"{name}.log"), "w")
        p = subprocess.Popen(["ip", "netns", "exec", self.ns(host)] + argv, stdout=out,
                             stderr=subprocess.STDOUT if stdout is None else open(
                                 os.path.join(self.dir, f"{name}.err"), "w"))
        self.procs.append((name, p))
        return p

    def exec(self, host, argv, timeout=30, check_rc=True):
        return run(["ip", "netns", "exec", self.ns(host)] + argv, timeout=timeout, check_rc=check_rc)

    def helper(self, host, args, timeout=30):
        r = self.exec(host, ["python3", HELPER] + args, timeout=timeout)
        return json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else None

    def stop(self, p, timeout=5):
        """Stops one process started here, by PID: SIGTERM, then SIGKILL."""
        if p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)

    def down(self):
        for name, p in reversed(self.procs):
            self.stop(p)
        for n in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)
        self.namespaces = []
        log("namespaces removed")

    def dump_logs(self):
        for name, _ in self.procs:
            path = os.path.join(self.dir, f"{name}.log")
            if os.path.exists(path):
                with open(path) as f:
                    tail = f.read()[-3000:]
                print(f"----- {name} (last 3000 bytes) -----\n{tail}", flush=True)


class Node:
    """keycast server in its namespace, and its admin API."""

    def __init__(self, lab):
        self.lab = lab
        self.url = f"http://{lab.ip('node')}:8200"
        data = os.path.join(lab.dir, "node")
        out = lab.exec("node", [lab.keycast, "init", "--data-dir", data]).stdout
        lines = [l.strip() for l in out.splitlines() if l.strip()]
        idx = next(i for i, l in enumerate(lines) if l.startswith("Admin token"))
        self.token = lines[idx + 1]
        lab.start("node", [lab.keycast, "server", "--data-dir", data, "--http-addr", f"{lab.ip('node')}:8200",
                           "--allow-insecure-http", "--key-addr", f"{lab.ip('node')}:7400", "--key-grace", "1"],
                  "node")
        for _ in range(100):
            r = self.api("GET", "/v1/health", check_rc=False)
            if r["status"] == 200:
                break
            time.sleep(0.1)
        else:
            raise TestFailure("the node did not come up")
        log(f"node up at {self.url}")

    def api(self, method, path, body=None, check_rc=True):
        args = ["http", method, self.url + path, "--token", self.token]
        if body is not None:
            args += ["--data", json.dumps(body)]
        r = self.lab.helper("snd", args)
        if check_rc and not 200 <= r["status"] < 300:
            raise TestFailure(f"{method} {path}: {r['status']} {r['body']}")
        return r

    def batch(self, requests):
        """Several admin requests in one helper run; fails at the first refusal."""
        args = ["batch", json.dumps([[m, self.url + p, b] for m, p, b in requests]), "--token", self.token]
        results = self.lab.helper("snd", args)
        for (m, p, _), r in zip(requests, results):
            if not 200 <= r["status"] < 300:
                raise TestFailure(f"{m} {p}: {r['status']} {r['body']}")
        if len(results) != len(requests):
            raise TestFailure("admin batch stopped early")
        return results


def agent_status(lab, host):
    r = lab.exec(host, [lab.keycast, "agent", "status", "--json", "--status-addr", STATUS], check_rc=False)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout)


def wait_for_keys(lab, hosts, seconds=20):
    deadline = time.time() + seconds
    pending = set(hosts)
    while pending and time.time() < deadline:
        for h in list(pending):
            s = agent_status(lab, h)
            if s and s["events"] and s["events"][0].get("keys", {}).get("current"):
                pending.discard(h)
        time.sleep(0.2)
    if pending:
        raise TestFailure(f"no keys on {sorted(pending)} within {seconds} s")
    log(f"keys in hand on {', '.join(hosts)}")


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def pcap_udp(path, group):
    """(timestamp, dport, payload) of every IPv4/UDP packet to group in a pcap."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return out
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    g = bytes(int(x) for x in group.split("."))
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if linktype == 1:
            if len(frame) < 14 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
        elif linktype == 113:  # Linux cooked capture
            if len(frame) < 16 or frame[14:16] != b"\x08\x00":
                continue
            ip = frame[16:]
        else:
            continue
        if len(ip) < 28 or ip[9] != 17 or ip[16:20] != g:
            continue
        ihl = (ip[0] & 0x0F) * 4
        dport = struct.unpack("!H", ip[ihl + 2:ihl + 4])[0]
        out.append((sec + frac / (1e9 if nano else 1e6), dport, ip[ihl + 8:]))
    return out


def looks_like_ts(payload):
    return len(payload) >= 377 and payload[0] == 0x47 and payload[188] == 0x47 and payload[376] == 0x47


class Scenario:
    def __init__(self, lab, mode):
        self.lab = lab
        self.mode = mode
        self.marker = "KCE2E" + lab.tag[-4:].upper()
        self.group = f"239.77.{random.randrange(1, 250)}.{random.randrange(1, 250)}"
        self.port = 5004
        self.wire_port = self.port + (1 if mode == "transparent" else 0)
        self.node = Node(lab)
        self.keys = {}

    def directory(self, interval, start_in, clear_intervals=0, source=None, source_auth=False):
        """Groups, clients (r3 is a client of no group of the event; att, with
        source_auth, a receiving member turned attacker) and the event,
        starting start_in seconds from now."""
        clients = {"snd": ("studio", "sender"), "r1": ("viewers", "receiver"), "r2": ("viewers", "receiver"),
                   "r3": ("others", "receiver")}
        if source_auth:
            clients["att"] = ("viewers", "receiver")
        start = int(time.time()) + start_in
        ev = {"name": "live", "title": "e2e stream", "group_address": self.group, "port": self.port,
              "schedule": {"start": start, "duration": 3600}, "interval_seconds": interval,
              "initial_keying_seconds": 5, "clear_intervals": clear_intervals,
              "key_servers": [f"{self.lab.ip('node')}:7400"]}
        if source:
            ev["source_address"] = source
        if source_auth:
            ev["source_auth"] = True
        reqs = [("POST", "/v1/groups", {"name": g}) for g in ("viewers", "studio", "others")]
        for c, (g, role) in clients.items():
            reqs += [("POST", "/v1/clients", {"name": c}),
                     ("POST", "/v1/memberships", {"client": c, "group": g, "role": role}),
                     ("POST", f"/v1/clients/{c}/api-keys", {})]
        reqs += [("POST", "/v1/events", ev)]
        reqs += [("POST", "/v1/assignments", {"event": "live", "group": g}) for g in ("viewers", "studio")]
        results = self.node.batch(reqs)
        for c in clients:
            idx = next(i for i, r in enumerate(reqs) if r[1] == f"/v1/clients/{c}/api-keys")
            self.keys[c] = json.loads(results[idx]["body"])["api_key"]
        self.start, self.interval = start, interval
        log(f"directory: event live on {self.group}:{self.port}, intervals of {interval} s from {start}"
            f"{', source ' + source if source else ''}{f', {clear_intervals} clear' if clear_intervals else ''}")

    def agent(self, host, binding, session=False):
        argv = [self.lab.keycast, "agent", "--interface", "eth0", "--status-addr", STATUS, "--watch-seconds", "5",
                "--mode", self.mode]
        if session:
            # As an operator would: `keycast client login` saves a session,
            # the agent runs from it (no credentials on its command line).
            path = os.path.join(self.lab.dir, f"{host}.session.json")
            self.lab.exec(host, [self.lab.keycast, "client", "login", "--addr", self.node.url, "--api-key",
                                 self.keys[host], "--session", path])
            argv += ["--session", path]
        else:
            argv += ["--addr", self.node.url, "--api-key", self.keys[host]]
        if self.mode == "transparent":
            argv += ["--event", "live", "--manage-routes", "--tun", "kc0"]
        else:
            argv += binding
        return self.lab.start(host, argv, f"agent-{host}")

    def relay_agents(self, hosts, session_hosts=()):
        for h in hosts:
            self.agent(h, ["--send", "live=127.0.0.1:5000"] if h == "snd" else ["--receive", "live=127.0.0.1:6000"],
                       session=h in session_hosts)

    def app_target(self):
        """Where the sending application sends, and where receiving ones listen."""
        if self.mode == "transparent":  # the event's own group: the agent is invisible
            return f"{self.group}:{self.port}", f"{self.group}:{self.port}", self.group
        return "127.0.0.1:5000", "127.0.0.1:6000", ""

    def receivers(self, hosts, duration, tag):
        _, listen, join = self.app_target()
        procs = {}
        for h in hosts:
            args = ["python3", HELPER, "recv", "--bind", listen, "--marker", self.marker, "--duration",
                    str(duration), "--out", os.path.join(self.lab.dir, f"recv-{tag}-{h}.jsonl")]
            if join:
                args += ["--join", join]
            procs[h] = self.lab.start(h, args, f"recv-{tag}-{h}")
        return procs

    def capture(self):
        pcap = os.path.join(self.lab.dir, "bridge.pcap")
        p = self.lab.start("sw", ["tcpdump", "-i", "br0", "-w", pcap, "-U", "-s", "0", "-n", "udp"], "tcpdump")
        time.sleep(1.0)
        return p, pcap

    def epoch_start(self, k):
        return self.start + k * self.interval

    def status(self, host):
        s = agent_status(self.lab, host)
        if s is None:
            raise TestFailure(f"no status from the agent on {host}")
        return s

    def ffmpeg_phase(self):
        send_to, listen, _ = self.app_target()
        # ffprobe joins a little after the start (MPEG-TS repeats its tables),
        # so a slow ffmpeg start-up cannot run into ffprobe's idle timeout.
        ff = self.lab.start("snd", ["ffmpeg", "-nostdin", "-v", "error", "-re", "-f", "lavfi", "-i",
                                    "testsrc=duration=5:size=320x240:rate=25", "-f", "lavfi", "-i",
                                    "sine=frequency=1000:duration=5", "-c:v", "mpeg2video", "-c:a", "mp2",
                                    "-f", "mpegts", f"udp://{send_to}?pkt_size=1316&ttl=1"], "ffmpeg")
        time.sleep(0.5)
        probe_url = f"udp://{listen}?timeout=2000000&overrun_nonfatal=1&fifo_size=100000"
        out = open(os.path.join(self.lab.dir, "ffprobe.json"), "w")
        probe = self.lab.start("r1", ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                                      "stream=codec_type,codec_name,nb_read_frames", "-of", "json", probe_url],
                               "ffprobe", stdout=out)
        if ff.wait(30) != 0:
            raise TestFailure("ffmpeg failed (see ffmpeg.log)")
        try:
            probe.wait(20)
        except subprocess.TimeoutExpired:
            raise TestFailure("ffprobe did not finish")
        out.close()
        with open(os.path.join(self.lab.dir, "ffprobe.json")) as f:
            streams = {s["codec_type"]: s for s in json.load(f).get("streams", [])}
        log(f"ffprobe on r1: {json.dumps(streams)}")
        check(len(streams) == 2, "ffprobe on r1 sees 2 streams (video and audio)")
        check(streams["video"]["codec_name"] == "mpeg2video" and int(streams["video"]["nb_read_frames"]) > 0,
              f"video is mpeg2video with {streams['video']['nb_read_frames']} frames decoded")
        check(streams["audio"]["codec_name"] == "mp2" and int(streams["audio"]["nb_read_frames"]) > 0,
              f"audio is mp2 with {streams['audio']['nb_read_frames']} frames decoded")


def scenario_stream(sc, late_join=False):
    """relay / transparent: stream, revoke r2, attack, check everything."""
    lab = sc.lab
    sc.directory(interval=2, start_in=3, source=lab.ip("snd"))
    S = sc.start
    tcpdump, pcap = sc.capture()
    if sc.mode == "transparent":
        for h in ("snd", "r1", "r2", "r3"):
            sc.agent(h, None)
    else:
        sc.relay_agents(["snd", "r1", "r2", "r3"], session_hosts=("r1",))
    wait_for_keys(lab, ["snd", "r1", "r2"])
    check(sc.status("r3")["events"][0]["state"] == "waiting",
          "the unauthorised host's agent waits: the event is not in its ticket")

    count, rate = 1500, 150.0
    duration = count / rate
    recv = sc.receivers(["r1", "r2", "r3"], duration + 4, "stream")
    sniff = lab.start("r3", ["python3", HELPER, "sniff", "--group", sc.group, "--port", str(sc.wire_port),
                             "--marker", sc.marker, "--duration", str(duration + 3)], "sniff-r3",
                      stdout=open(os.path.join(lab.dir, "sniff-r3.json"), "w"))
    attack = lab.start("att", ["python3", HELPER, "attack", "--local", lab.ip("att"), "--group", sc.group,
                               "--port", str(sc.wire_port), "--after", "100", "--replay", "20",
                               "--modify", "20", "--marker", sc.marker],
                       "attack", stdout=open(os.path.join(lab.dir, "attack.json"), "w"))
    time.sleep(0.5)
    send_to, _, _ = sc.app_target()
    sender_log = os.path.join(lab.dir, "sent.jsonl")
    sender = lab.start("snd", ["python3", HELPER, "send", "--to", send_to, "--marker", sc.marker, "--count",
                               str(count), "--rate", str(rate), "--size", "300", "--log", sender_log], "send")
    time.sleep(duration * 0.4)
    revoked_at = time.time()
    sc.node.api("DELETE", "/v1/memberships/r2/viewers")
    log(f"r2 removed from viewers at {revoked_at:.1f} (epoch {int((revoked_at - S) // sc.interval)})")
    if sender.wait(duration + 20) != 0:
        raise TestFailure("the sending application failed")
    for p in recv.values():
        p.wait(30)
    sniff.wait(30)
    attack.wait(30)
    time.sleep(0.5)
    lab.stop(tcpdump)

    sent = read_lines(sender_log)
    check(len(sent) == count, f"the application sent {count} numbered datagrams")
    by_n = {d["n"]: d for d in sent}
    got = {h: read_lines(os.path.join(lab.dir, f"recv-stream-{h}.jsonl")) for h in ("r1", "r2", "r3")}
    r1 = got["r1"]
    check([d["n"] for d in r1] == list(range(count)), f"r1 received all {count} datagrams, in order, once each")
    check(all(d["sha"] == by_n[d["n"]]["sha"] for d in r1), "r1's datagrams are byte-exact copies")

    k = int((revoked_at - S) // sc.interval)
    stop_by = sc.epoch_start(k + 2)  # keys up to k+1 may have been fetched before the removal
    r2 = got["r2"]
    r2_times = [by_n[d["n"]]["t"] / 1e6 for d in r2 if d["n"] in by_n]
    check(all(d["n"] >= 0 and d["sha"] == by_n[d["n"]]["sha"] for d in r2), "r2's datagrams are byte-exact")
    check(r2_times and min(r2_times) < revoked_at - 1 and max(r2_times) > revoked_at - 1,
          f"r2 received the stream until its revocation ({len(r2)} datagrams)")
    check(max(r2_times) < stop_by + 0.3,
          f"r2 received nothing sent after the start of interval {k + 2} "
          f"(last sent {max(r2_times) - stop_by:+.2f} s from it)")
    check(len(r2) < count * 0.9, f"r2 missed the rest of the stream ({count - len(r2)} datagrams)")
    s2 = sc.status("r2")
    e2 = s2["events"][0]
    check(e2["key_requests"]["refusals"] >= 1 and e2["state"] in ("revoked",),
          f"r2's agent was refused keys and says {e2['state']}: {e2['reason']}")
    check(s2["data_plane"]["dropped"]["no_sa"] + s2["data_plane"]["dropped"]["expired_sa"] > 0,
          "r2's data plane dropped the later datagrams for want of a key, and counted them")

    check(got["r3"] == [], "the unauthorised host's application received nothing")
    with open(os.path.join(lab.dir, "sniff-r3.json")) as f:
        sn = json.load(f)
    check(sn["packets"] >= count * 0.9 and sn["with_marker"] == 0,
          f"a raw socket on the unauthorised host saw {sn['packets']} datagrams to the group, "
          f"none with the plaintext marker")
    s3 = sc.status("r3")
    check(s3["events"][0]["state"] == "waiting" and "keys" not in s3["events"][0],
          "the unauthorised host's agent holds no SA for the event")

    with open(os.path.join(lab.dir, "attack.json")) as f:
        att = json.load(f)
    check(att.get("replayed") == 20 and att.get("modified") == 20, f"the attacker injected {att}")
    s1 = sc.status("r1")
    drops = s1["data_plane"]["dropped"]
    check(drops["replay"] == 20, f"r1 dropped and counted the 20 replays (replay={drops['replay']})")
    check(drops["auth_failed"] == 20, f"r1 dropped and counted the 20 modified datagrams "
                                      f"(auth_failed={drops['auth_failed']})")

    packets = pcap_udp(pcap, sc.group)
    with open(pcap, "rb") as f:
        raw = f.read()
    wire = [p for p in packets if p[1] == sc.wire_port]
    check(len(wire) >= count, f"the bridge capture holds {len(wire)} datagrams to {sc.group}:{sc.wire_port}")
    check(sc.marker.encode() not in raw, "the bridge capture contains no plaintext marker")
    check(all(p[2][:4] != b"\0\0\0\0" for p in wire), "every datagram on the wire is protected (SPI != 0)")

    sc.ffmpeg_phase()
    s1 = sc.status("r1")
    check(s1["events"][0]["datagrams"]["delivered"] > count, "r1's agent delivered the ffmpeg stream as well")


def scenario_latejoin(sc):
    """First intervals clear: the sender passes them in the clear and switches
    to protected traffic at the boundary without a gap; a late joiner plays
    at once; clear packets are refused once the clear intervals are over."""
    lab = sc.lab
    interval = 3
    sc.directory(interval=interval, start_in=3, clear_intervals=2)
    S = sc.start
    boundary = S + 2 * interval
    tcpdump, pcap = sc.capture()
    sc.relay_agents(["snd", "r1"])
    wait_for_keys(lab, ["snd", "r1"])
    check(sc.status("snd")["events"][0]["keys"]["current"]["clear"], "the sender holds a clear SA for interval 0")

    rate = 150.0
    count = int((boundary + 3 - time.time()) * rate)
    recv = sc.receivers(["r1", "r2"], count / rate + 5, "late")
    attack = lab.start("att", ["python3", HELPER, "attack", "--local", lab.ip("att"), "--group", sc.group,
                               "--port", str(sc.wire_port), "--after", "20", "--delay", "1", "--clear", "5",
                               "--marker", sc.marker],
                       "attack", stdout=open(os.path.join(lab.dir, "attack.json"), "w"))
    time.sleep(1.0)  # the receiving applications are listening before the first datagram
    sender_log = os.path.join(lab.dir, "sent.jsonl")
    sender = lab.start("snd", ["python3", HELPER, "send", "--to", "127.0.0.1:5000", "--marker", sc.marker,
                               "--count", str(count), "--rate", str(rate), "--size", "300", "--log", sender_log],
                       "send")
    # r2 joins late: mid-stream, during the clear intervals.
    time.sleep(max(1.5, S + 1 - time.time()))
    late_at = time.time()
    sc.relay_agents(["r2"])
    log(f"r2 joins late at {late_at - S:+.1f} s into the event")
    if sender.wait(count / rate + 20) != 0:
        raise TestFailure("the sending application failed")
    for p in recv.values():
        p.wait(30)
    attack.wait(30)
    time.sleep(0.5)
    lab.stop(tcpdump)

    sent = read_lines(sender_log)
    by_n = {d["n"]: d for d in sent}
    first_protected_t = boundary
    r1 = read_lines(os.path.join(lab.dir, "recv-late-r1.jsonl"))
    check([d["n"] for d in r1] == list(range(count)),
          f"r1 received all {count} datagrams across the clear -> protected boundary, no gap")
    check(all(d["sha"] == by_n[d["n"]]["sha"] for d in r1), "r1's datagrams are byte-exact")
    before = [d for d in r1 if by_n[d["n"]]["t"] / 1e6 < boundary]
    check(len(before) > rate, f"{len(before)} of them were sent during the clear intervals")
    r2 = read_lines(os.path.join(lab.dir, "recv-late-r2.jsonl"))
    ns = [d["n"] for d in r2]
    check(ns and ns[0] > 0 and ns == list(range(ns[0], count)),
          f"the late joiner r2 received every datagram from #{ns[0] if ns else '-'} (its join) on, no gap")
    check(ns and by_n[ns[0]]["t"] / 1e6 < boundary, "r2 played the stream at once, during the clear intervals")
    ss = sc.status("snd")["data_plane"]["packets"]
    check(ss["clear_sent"] > 0 and ss["protected"] > 0 and ss["clear_sent"] + ss["protected"] == count,
          f"the sender sent {ss['clear_sent']} clear and {ss['protected']} protected datagrams, dropped none")
    with open(os.path.join(lab.dir, "attack.json")) as f:
        att = json.load(f)
    check(att.get("clear") == 5, "the attacker injected 5 clear (SPI 0) datagrams after the boundary")
    d1 = sc.status("r1")["data_plane"]["dropped"]
    check(d1["clear_not_allowed"] == 5, f"r1 refused and counted them (clear_not_allowed={d1['clear_not_allowed']})")
    check(all("INJECTED" not in str(d) for d in r1), "none reached r1's application")

    packets = [p for p in pcap_udp(pcap, sc.group) if p[1] == sc.wire_port]
    clear_marked = [p for p in packets if p[2][:4] == b"\0\0\0\0" and b"INJECTED" not in p[2]]
    protected = [p for p in packets if p[2][:4] != b"\0\0\0\0"]
    check(clear_marked and max(p[0] for p in clear_marked) < first_protected_t + 0.5,
          f"clear datagrams on the wire only before the boundary ({len(clear_marked)})")
    check(protected and min(p[0] for p in protected) >= boundary - 0.5 and
          all(sc.marker.encode() not in p[2] for p in protected),
          f"protected datagrams after it ({len(protected)}), without the marker")


def scenario_forge(sc, forge):
    """source_auth: a member that may receive the event fetches its key and
    forges packets under the sender's id (far-ahead and near sequence numbers,
    manifests with made-up signatures) and under invented sender ids, during
    the stream. Every genuine datagram still arrives; every forgery is
    dropped and counted by its reason."""
    lab = sc.lab
    # No source address: the receivers take the group's traffic from any
    # host, so only the signatures tell the sender's packets from others'.
    sc.directory(interval=3, start_in=3, source_auth=True)
    # The sender first: a receiver's SA vouches for the senders that
    # fetched a key of its interval before it.
    sc.agent("snd", ["--send", "live=127.0.0.1:5000"])
    wait_for_keys(lab, ["snd"])
    sc.agent("r1", ["--receive", "live=127.0.0.1:6000"])
    wait_for_keys(lab, ["r1"])
    check(sc.status("r1")["events"][0]["state"] != "waiting", "r1's agent holds the event's keys")

    count, rate = 800, 100.0
    duration = count / rate
    recv = sc.receivers(["r1"], duration + 4, "forge")
    forger = lab.start("att", [forge, "--addr", sc.node.url, "--api-key", sc.keys["att"], "--event", "live",
                               "--local", lab.ip("att"), "--port", str(sc.wire_port), "--duration",
                               str(duration + 1), "--rate", "250"],
                       "forge", stdout=open(os.path.join(lab.dir, "forge.json"), "w"))
    time.sleep(0.5)
    send_to, _, _ = sc.app_target()
    sender_log = os.path.join(lab.dir, "sent.jsonl")
    sender = lab.start("snd", ["python3", HELPER, "send", "--to", send_to, "--marker", sc.marker, "--count",
                               str(count), "--rate", str(rate), "--size", "300", "--log", sender_log], "send")
    if sender.wait(duration + 20) != 0:
        raise TestFailure("the sending application failed")
    if forger.wait(30) != 0:
        raise TestFailure("the forger failed (see forge.err)")
    for p in recv.values():
        p.wait(30)

    sent = read_lines(sender_log)
    check(len(sent) == count, f"the application sent {count} numbered datagrams")
    by_n = {d["n"]: d for d in sent}
    r1 = read_lines(os.path.join(lab.dir, "recv-forge-r1.jsonl"))
    check([d["n"] for d in r1] == list(range(count)),
          f"r1 received all {count} genuine datagrams, in order, once each, under attack "
          f"({len(r1)} received)")
    check(all(d["sha"] == by_n[d["n"]]["sha"] for d in r1), "r1's datagrams are byte-exact copies")

    with open(os.path.join(lab.dir, "forge.json")) as f:
        att = json.load(f)
    check(att["source_auth"] and att["key_fetches"] >= 1 and att["victim"] > 0,
          f"the attacker held the event's key and the sender's id: {att}")
    s1 = sc.status("r1")
    drops, packets = s1["data_plane"]["dropped"], s1["data_plane"]["packets"]
    log(f"r1 drops: { {k: v for k, v in drops.items() if v} }")
    data_forged = att["far_ahead"] + att["near"] + 4 * att["manifests"]
    check(drops["unsigned"] + drops["forged"] >= 0.9 * data_forged,
          f"r1 dropped the forged data packets under the sender's id "
          f"(unsigned={drops['unsigned']}, forged={drops['forged']}, sent {data_forged})")
    check(drops["bad_signature"] + drops["replay"] + drops["seq_jump"] >= 0.9 * att["manifests"]
          and drops["bad_signature"] > 0,
          f"r1 dropped the forged manifests (bad_signature={drops['bad_signature']}, sent {att['manifests']})")
    check(drops["unknown_sender"] >= 0.9 * att["invented"],
          f"r1 dropped the invented sender ids (unknown_sender={drops['unknown_sender']}, "
          f"sent {att['invented']})")
    check(packets["manifest_verified"] >= count / 32, f"r1 verified the sender's manifests "
                                                      f"({packets['manifest_verified']})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keycast", required=True)
    ap.add_argument("--forge", help="the keycast_forge tool (scenario forge)")
    ap.add_argument("--scenario", choices=["relay", "transparent", "latejoin", "forge"], required=True)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, pcap)")
    a = ap.parse_args()
    if a.scenario == "forge" and not (a.forge and os.access(a.forge, os.X_OK)):
        sys.exit("agent_e2e: scenario forge needs --forge, the keycast_forge tool")
    preflight(a.keycast, a.scenario not in ("latejoin", "forge"))
    sweep_stale()
    workdir = tempfile.mkdtemp(prefix=f"keycast-e2e-{a.scenario}-")
    lab = Lab(os.path.abspath(a.keycast), workdir)

    def on_alarm(signum, frame):
        raise TestFailure(f"the scenario ran past {DEADLINE_SECONDS} s")

    def on_term(signum, frame):
        raise TestFailure(f"interrupted by signal {signum}")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(DEADLINE_SECONDS)
    t0 = time.time()
    ok = False
    try:
        lab.up()
        sc = Scenario(lab, "transparent" if a.scenario == "transparent" else "relay")
        if a.scenario == "latejoin":
            scenario_latejoin(sc)
        elif a.scenario == "forge":
            scenario_forge(sc, os.path.abspath(a.forge))
        else:
            scenario_stream(sc)
        ok = True
    except TestFailure as e:
        log(f"FAIL: {e}")
    except Exception as e:  # noqa: BLE001 - report anything, then clean up
        log(f"FAIL: {type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        lab.down()
        if not ok:
            lab.dump_logs()
        if ok and not a.keep:
            subprocess.run(["rm", "-rf", workdir])
        else:
            log(f"work folder kept: {workdir}")
    log(f"{a.scenario}: {'PASS' if ok else 'FAIL'} in {time.time() - t0:.1f} s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
