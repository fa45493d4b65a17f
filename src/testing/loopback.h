// Raw TCP clients on loopback for tests of connection limits: a client can
// bind any address of 127.0.0.0/8 (all local on Linux) to play another peer.
#pragma once

#include <string>
#include <string_view>

namespace keycast::testing {

// A blocking TCP connection from `source` (e.g. "127.0.0.2") to
// 127.0.0.1:port; -1 (with a line on stderr) if it cannot be made.
int ConnectFrom(const std::string& source, int port);

// Sends all of s, or as much as the peer takes before an error.
void SendAll(int fd, std::string_view s);

// Reads until the peer closes (EOF or reset) or `ms` pass; *closed tells
// which.
std::string ReadUntilClosed(int fd, int ms, bool* closed);

// Whether the peer has closed fd within ms (what it sent is dropped).
bool ClosedWithin(int fd, int ms);

}  // namespace keycast::testing
