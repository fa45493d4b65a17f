#!/usr/bin/env python3
"""Small tools the end-to-end tests run inside a network namespace
(`ip netns exec NS python3 nshelper.py ...`). Each stops by itself: a count,
a duration or an idle timeout bounds every loop.

  http     one HTTP request (the admin API of the node), JSON out
  send     a numbered stream of datagrams, like an application would send
  recv     receive datagrams (optionally joining a group), log what came
  sniff    an AF_PACKET raw socket on an interface: what is on the wire
  attack   capture protected datagrams, then inject replays, modified
           copies and a clear (SPI 0) datagram with a spoofed source
"""
import argparse
import hashlib
import json
import os
import socket
import struct
import sys
import time
import urllib.error
import urllib.request

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800


def now_us():
    return time.time_ns() // 1000


def datagram(marker, n, size):
    """Datagram n of a stream: '<marker> <n> <send time us> ' + filler from n."""
    head = f"{marker} {n:08d} {now_us():016d} ".encode()
    filler = bytes((n * 7 + i) % 251 for i in range(max(0, size - len(head))))
    return (head + filler)[:max(size, len(head))]


def parse_datagram(data, marker):
    """(n, send time) of a numbered datagram, or None."""
    parts = data[:64].split(b" ")
    if len(parts) < 3 or parts[0] != marker.encode():
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


def http(method, url, data, token):
    req = urllib.request.Request(url, method=method, data=data.encode() if data else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return {"status": r.status, "body": r.read().decode()}
    except urllib.error.HTTPError as e:
        return {"status": e.code, "body": e.read().decode()}
    except OSError as e:
        return {"status": 0, "body": str(e)}


def cmd_http(a):
    print(json.dumps(http(a.method, a.url, a.data, a.token)))


def cmd_batch(a):
    """Requests [[method, url, body-or-null], ...] in order; stops at the first failure."""
    out = []
    for method, url, body in json.loads(a.requests):
        r = http(method, url, json.dumps(body) if body is not None else "", a.token)
        out.append(r)
        if not 200 <= r["status"] < 300:
            break
    print(json.dumps(out))


def cmd_send(a):
    host, port = a.to.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, a.ttl)
    log = open(a.log, "w") if a.log else None
    interval = 1.0 / a.rate
    start = time.monotonic()
    for n in range(a.count):
        due = start + n * interval
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        d = datagram(a.marker, n, a.size)
        s.sendto(d, (host, int(port)))
        if log:
            log.write(json.dumps({"n": n, "t": parse_datagram(d, a.marker)[1],
                                  "sha": hashlib.sha256(d).hexdigest()}) + "\n")
    if log:
        log.close()


def cmd_recv(a):
    host, port = a.bind.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((host, int(port)))
    if a.join:
        mreq = struct.pack("4s4s", socket.inet_aton(a.join), socket.inet_aton("0.0.0.0"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    s.settimeout(0.2)
    out = open(a.out, "w")
    deadline = time.monotonic() + a.duration
    while time.monotonic() < deadline:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        p = parse_datagram(d, a.marker)
        out.write(json.dumps({"n": p[0] if p else -1, "t": p[1] if p else 0, "len": len(d),
                              "sha": hashlib.sha256(d).hexdigest(), "at": now_us()}) + "\n")
        out.flush()
    out.close()


def udp_to(frame, group, port):
    """(IP header offset, UDP payload) of an IPv4/UDP frame to group[:port], else None."""
    if len(frame) < 14 + 28 or struct.unpack("!H", frame[12:14])[0] != ETH_P_IP:
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 17 or socket.inet_ntoa(ip[16:20]) != group:
        return None
    sport, dport, ulen = struct.unpack("!HHH", ip[ihl:ihl + 6])
    if port and dport != port:
        return None
    return ip, ip[ihl + 8:ihl + ulen], sport, dport


def open_sniffer(iface):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.2)
    return s


def cmd_sniff(a):
    s = open_sniffer(a.iface)
    total, marked, spi0 = 0, 0, 0
    deadline = time.monotonic() + a.duration
    marker = a.marker.encode()
    while time.monotonic() < deadline:
        try:
            frame, addr = s.recvfrom(65536)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        u = udp_to(frame, a.group, a.port)
        if not u:
            continue
        total += 1
        if marker in u[1]:
            marked += 1
        if u[1][:4] == b"\0\0\0\0":
            spi0 += 1
    print(json.dumps({"packets": total, "with_marker": marked, "spi0": spi0}))


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4_udp(src, dst, sport, dport, payload, ident):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 17, len(udp))
    c = checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), ident, 0x4000, 1, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return hdr + udp


def cmd_attack(a):
    """Waits for --after protected datagrams, then injects: --replay copies of
    captured ones, --modify copies with one ciphertext bit flipped, and
    --clear SPI-0 datagrams carrying --marker; all with the captured
    datagrams' source address and port (an on-path attacker)."""
    s = open_sniffer(a.iface)
    captured = []
    deadline = time.monotonic() + a.timeout
    while len(captured) < a.after and time.monotonic() < deadline:
        try:
            frame, addr = s.recvfrom(65536)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        u = udp_to(frame, a.group, a.port)
        if u and u[1][:4] != b"\0\0\0\0" and len(u[1]) >= 36:
            captured.append((socket.inet_ntoa(u[0][12:16]), u[2], u[1]))
    if len(captured) < a.after:
        print(json.dumps({"error": f"captured only {len(captured)} protected datagrams"}))
        sys.exit(1)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    raw.setsockopt(socket.SOL_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.local))
    sent = {"replayed": 0, "modified": 0, "clear": 0}
    ident = 4000
    # The most recent datagrams: their SAs are live at the receivers, so a
    # copy is a replay (not an expired SA), a modified copy an auth failure.
    recent = captured[-max(a.replay, a.modify, 1):]
    for i in range(a.replay):
        src, sport, payload = recent[i]
        ident += 1
        raw.sendto(ipv4_udp(src, a.group, sport, a.port, payload, ident), (a.group, 0))
        sent["replayed"] += 1
    for i in range(a.modify):
        src, sport, payload = recent[i]
        p = bytearray(payload)
        p[20] ^= 0x01  # one ciphertext bit, after the 16-byte header
        ident += 1
        raw.sendto(ipv4_udp(src, a.group, sport, a.port, bytes(p), ident), (a.group, 0))
        sent["modified"] += 1
    time.sleep(a.delay)  # e.g. past the clear grace before the clear datagrams
    for i in range(a.clear):
        src, sport, _ = captured[0]
        payload = b"\0\0\0\0" + f"{a.marker} INJECTED-CLEAR {i}".encode()
        ident += 1
        raw.sendto(ipv4_udp(src, a.group, sport, a.port, payload, ident), (a.group, 0))
        sent["clear"] += 1
    sent["at"] = now_us()
    print(json.dumps(sent))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("http")
    h.add_argument("method")
    h.add_argument("url")
    h.add_argument("--data", default="")
    h.add_argument("--token", default="")
    b = sub.add_parser("batch")
    b.add_argument("requests")
    b.add_argument("--token", default="")
    s = sub.add_parser("send")
    s.add_argument("--to", required=True)
    s.add_argument("--marker", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--rate", type=float, default=100)
    s.add_argument("--size", type=int, default=300)
    s.add_argument("--ttl", type=int, default=1)
    s.add_argument("--log", default="")
    r = sub.add_parser("recv")
    r.add_argument("--bind", required=True)
    r.add_argument("--join", default="")
    r.add_argument("--marker", required=True)
    r.add_argument("--duration", type=float, required=True)
    r.add_argument("--out", required=True)
    f = sub.add_parser("sniff")
    f.add_argument("--iface", default="eth0")
    f.add_argument("--group", required=True)
    f.add_argument("--port", type=int, default=0)
    f.add_argument("--marker", required=True)
    f.add_argument("--duration", type=float, required=True)
    t = sub.add_parser("attack")
    t.add_argument("--iface", default="eth0")
    t.add_argument("--local", required=True, help="this host's address (the multicast interface)")
    t.add_argument("--group", required=True)
    t.add_argument("--port", type=int, required=True)
    t.add_argument("--after", type=int, default=50)
    t.add_argument("--delay", type=float, default=0.0)
    t.add_argument("--replay", type=int, default=0)
    t.add_argument("--modify", type=int, default=0)
    t.add_argument("--clear", type=int, default=0)
    t.add_argument("--marker", default="KCE2E")
    t.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    {"http": cmd_http, "batch": cmd_batch, "send": cmd_send, "recv": cmd_recv, "sniff": cmd_sniff, "attack": cmd_attack}[a.cmd](a)


if __name__ == "__main__":
    main()
