// Protocol limits and defaults, in one place. Each states its unit. Operators
// can change the ones marked "default" through configuration; the bounds are
// fixed by the formats.
#pragma once

#include <cstddef>
#include <cstdint>

namespace keycast::limits {

// ---- names and directory objects ----
inline constexpr size_t kMaxNameLength = 64;        // client/group/event names, bytes
inline constexpr size_t kMaxTitleLength = 200;      // event titles, bytes (UTF-8)
inline constexpr size_t kMaxPasswordLength = 1024;  // bytes
inline constexpr size_t kMinPasswordLength = 8;     // bytes
inline constexpr size_t kMaxKeyServersPerEvent = 8;
inline constexpr size_t kMaxHostLength = 253;   // DNS name or address literal
inline constexpr size_t kMaxRruleLength = 255;  // bytes
inline constexpr uint32_t kMinIntervalSeconds = 1;
inline constexpr uint32_t kMaxIntervalSeconds = 7 * 24 * 3600;
inline constexpr uint32_t kMaxInitialKeyingSeconds = 7 * 24 * 3600;
inline constexpr uint16_t kMaxClearIntervals = 1000;
inline constexpr int64_t kMaxEventDurationSeconds = 10LL * 366 * 24 * 3600;  // ten years

// ---- admin API ----
inline constexpr size_t kMaxRequestBodyBytes = 64 * 1024;  // JSON bodies
inline constexpr size_t kMaxJsonDepth = 8;

// ---- tickets ----
inline constexpr size_t kMaxTicketBytes = 256 * 1024;  // whole signed ticket
inline constexpr size_t kMaxEventsPerTicket = 4096;
inline constexpr size_t kMaxGroupsPerTicket = 1024;
inline constexpr size_t kMaxSealedPartBytes = 48 * 1024;  // part sealed for the key service
inline constexpr int64_t kDefaultTicketLifetimeSeconds = 8 * 3600;  // default
inline constexpr int64_t kMaxTicketLifetimeSeconds = 7 * 24 * 3600;
inline constexpr size_t kSessionKeySize = 32;

// ---- key service ----
inline constexpr int64_t kDefaultClockSkewSeconds = 30;  // default
inline constexpr int64_t kDefaultGraceSeconds =
    2;  // default: key k valid this long past interval k
inline constexpr size_t kMaxUdpRequestBytes = 1400;  // fits a 1500-byte MTU unfragmented
inline constexpr size_t kMaxTcpMessageBytes = 64 * 1024;
// Senders an SA reply vouches for (with their public keys when the event
// has source authentication): docs/key-protocol.md, "Senders".
inline constexpr size_t kMaxSignersPerSa = 64;
// Sender ids a receiver may ask the key service about in one request.
inline constexpr size_t kMaxSignerHints = 4;
// A receiver asks about unknown sender ids at most this often per event.
inline constexpr int64_t kSignerLookupIntervalMicros = 500'000;  // 0.5 s

// ---- data plane: sequence numbers (docs/packet-format.md, "Receiving") ----
// An authentic packet moves its sender's replay window forward by at most
// max(min(kMaxSequenceJump, window / 2), kMaxSenderPacketsPerSecond x the
// time since the window last moved); one further ahead is dropped
// (seq_jump). A fresh window counts from the SA's initiation minus its grace.
inline constexpr uint64_t kMaxSequenceJump = 32 * 1024;  // packets
// How fast a genuine sender's sequence number can advance: the bound above
// grows at this rate while a sender is silent (or its packets are lost).
inline constexpr uint64_t kMaxSenderPacketsPerSecond = 1'000'000;  // packets per second

// ---- source authentication (docs/packet-format.md, "Source authentication") ----
// A sender signs one manifest per batch: at most this many packets ...
inline constexpr size_t kDefaultSignBatchPackets = 32;  // default
inline constexpr size_t kMaxSignBatchPackets = 64;      // a manifest fits a 1400-byte datagram
// ... held at most this long after the first of them (the latency signing adds).
inline constexpr int64_t kDefaultSignBatchMicros = 20'000;  // default: 20 ms
inline constexpr int64_t kMaxSignBatchMicros = 100'000;     // 100 ms
// Each manifest is sent this many times (a lost copy costs nothing).
inline constexpr size_t kDefaultManifestCopies = 2;  // default
inline constexpr size_t kMaxManifestCopies = 4;
// Bytes of packets a sender SA holds while it waits to sign them.
inline constexpr size_t kMaxSignedBatchBytes = 128 * 1024;
// Verified manifests a receiver keeps per (SA, sender) for packets still to come.
inline constexpr size_t kMaxPendingManifests = 8;
// Ed25519 verifications a receiver spends per (SA, sender) and second; a
// flood of forged manifests beyond it is dropped unverified (verify_limit).
inline constexpr uint32_t kDefaultManifestVerifiesPerSecond = 2000;  // default
// A signed SA needs a replay window at least this large (packets), so the
// packets of a batch stay inside it after their manifest moved it.
inline constexpr uint64_t kMinSignedReplayWindow = 4 * kMaxSignBatchPackets;

// ---- HTTP front (src/api/http_gate.h, docs/limits.md) ----
inline constexpr size_t kMaxHttpHeadBytes = 16 * 1024;  // request line and headers
inline constexpr size_t kMaxHttpRequestsPerConnection = 10'000;
inline constexpr size_t kDefaultHttpThreads = 16;               // default: request pool
inline constexpr size_t kDefaultHttpMaxConnections = 1024;      // default: open, in all
inline constexpr size_t kDefaultHttpMaxConnectionsPerIp = 64;   // default: IPv4 address or /64
inline constexpr int64_t kDefaultHttpHeaderTimeoutMs = 10'000;  // default: the whole head
inline constexpr int64_t kDefaultHttpBodyTimeoutMs = 10'000;    // default: head end to body end
inline constexpr int64_t kDefaultHttpIdleTimeoutMs = 10'000;    // default: keep-alive wait
inline constexpr int64_t kDefaultHttpWriteTimeoutMs = 10'000;   // default: one answer
inline constexpr size_t kDefaultHttpMaxLongPolls = 128;  // default: ticket long-polls at once

// ---- key service TCP (docs/limits.md) ----
inline constexpr size_t kMaxKeyTcpRequestsPerConnection = 16;
inline constexpr size_t kDefaultKeyTcpThreads = 2;              // default: worker threads
inline constexpr size_t kDefaultKeyTcpMaxConnections = 256;     // default: open, in all
inline constexpr size_t kDefaultKeyTcpMaxConnectionsPerIp = 8;  // default: IPv4 address or /64
inline constexpr int64_t kDefaultKeyTcpFrameTimeoutMs = 5'000;  // default: one whole frame
inline constexpr int64_t kDefaultKeyTcpIdleTimeoutMs = 5'000;   // default: between frames

// ---- password logins (keycast/login_limiter.h, docs/limits.md) ----
// Failed attempts allowed before exponential back-off starts, per key.
inline constexpr uint32_t kLoginFreeFailuresPerAccountAndAddress = 5;
inline constexpr uint32_t kLoginFreeFailuresPerAddress = 20;  // any accounts
inline constexpr uint32_t kLoginFreeFailuresPerAccount = 50;  // from all addresses
// The n-th failure past the free ones blocks the key for base * 2^(n-1) s, at most max.
inline constexpr int64_t kLoginBackoffBaseSeconds = 1;
inline constexpr int64_t kLoginBackoffMaxSeconds = 15 * 60;
// A key's failures are forgotten this long after its last one (once unblocked).
inline constexpr int64_t kLoginFailureMemorySeconds = 3600;
inline constexpr size_t kLoginLimiterMaxEntries = 50'000;    // keys tracked, about 12 MiB at most
inline constexpr uint32_t kLoginAuditRecordsPerMinute = 20;  // back-off audit records, in all
// Argon2id computations running at once in the process (each takes the
// cost's memory: 64 MiB for interactive); more wait for a turn.
inline constexpr size_t kMaxConcurrentPasswordHashes = 4;

// ---- following other nodes (docs/cluster.md) ----
inline constexpr size_t kCatchUpBatch = 1000;  // audit records read per query
// More records than this behind: reload the directory whole instead.
inline constexpr size_t kCatchUpMaxRecords = 10000;
inline constexpr size_t kMaxNotifyPayloadBytes = 64;  // a NOTIFY payload: one decimal seq
inline constexpr int64_t kListenBackoffMinMs = 100;   // reconnecting the LISTEN connection
inline constexpr int64_t kListenBackoffMaxMs = 5000;

}  // namespace keycast::limits
