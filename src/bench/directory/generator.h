// A synthetic directory for benchmarks: clients, a group DAG of bounded
// depth with several parents per group, events assigned mostly to deep
// groups, memberships and API keys (docs/bench-directory.md).
//
// Generation has two steps: BuildShape draws the directory as ordinals
// (deterministic for the options), WriteDirectory writes it through the
// Store interface in large transactions, inside a BulkLoadScope.
//
// The DAG is layered: groups of level l (0 = roots) have one primary parent
// in level l-1 and, each with extra_parent_probability, further parents in
// the three levels above. Every edge goes from a lower level to a higher one,
// so the graph is acyclic and no path has more than max_depth groups.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "keycast/model.h"
#include "keycast/seal.h"
#include "keycast/status.h"
#include "keycast/store.h"

namespace keycast::bench {

struct GeneratorOptions {
  size_t clients = 1'000'000;
  size_t groups = 100'000;
  size_t events = 1'000'000;
  size_t api_keys = 10'000;  // clients that get an API key (a random sample)
  int max_depth = 16;        // levels of the DAG (longest path, in groups)
  uint64_t seed = 1;
  double level_growth = 1.5;  // groups of level l+1 / groups of level l
  double extra_parent_probability =
      0.3;                         // chance of each further parent (at most kMaxExtraParents)
  double event_decay = 0.3;        // events per group of level l-1 / of level l
  double top_event_weight = 0.01;  // floor of a level's events per group, relative to the deepest
  double second_group_probability = 0.1;  // events also assigned to a second group of the level
  double sender_probability = 0.002;      // memberships with the sender role
  size_t publishers_per_million = 1000;   // clients that send events (event.sender), per 10^6
  size_t rows_per_transaction = 250'000;  // rows per store transaction
  size_t bulk_cache_bytes = 256u << 20;   // database pages kept in memory while loading
  int64_t now = 0;                        // schedules start after this (Unix s); 0 = current time
  std::string key_server = "127.0.0.1:7400";
};

inline constexpr int kMaxExtraParents = 3;
inline constexpr uint32_t kNone = UINT32_MAX;

// The directory as ordinals (0-based) into clients, groups and events.
// Adjacency is in compressed rows: the parents of group g are
// parents[parent_begin[g] .. parent_begin[g + 1]).
struct Shape {
  std::vector<uint32_t>
      level_begin;  // levels + 1 entries; level l is [level_begin[l], level_begin[l+1])
  std::vector<uint32_t> parent_begin, parents;            // group -> parents (primary first)
  std::vector<uint32_t> event_group_begin, event_groups;  // event -> groups (1 or 2)
  std::vector<uint32_t> event_sender;                     // client ordinal or kNone
  std::vector<uint32_t> member_begin, member_group;       // client -> groups
  std::vector<uint8_t> member_sender;                     // 1 = sender role
  std::vector<uint32_t> api_key_clients;                  // ascending

  size_t levels() const { return level_begin.size() - 1; }
  size_t groups() const { return parent_begin.size() - 1; }
  size_t clients() const { return member_begin.size() - 1; }
  size_t events() const { return event_group_begin.size() - 1; }
  size_t edges() const { return parents.size(); }
  size_t memberships() const { return member_group.size(); }
  size_t assignments() const { return event_groups.size(); }
  int Level(uint32_t group) const;
};

// REQUIRES: clients, groups, events >= 1; 1 <= max_depth <= 64.
Shape BuildShape(const GeneratorOptions& o);

// Names are fixed-width ordinals: c0000042, g000042, e0000042.
std::string ClientName(size_t ordinal);
std::string GroupName(size_t ordinal);
std::string EventName(size_t ordinal);

// Order statistics of a set of counts.
struct Distribution {
  size_t count = 0;
  double mean = 0;
  uint64_t min = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  static Distribution Of(std::vector<uint32_t> values);
  std::string ToString() const;  // "p50 12  p90 30  p99 80  max 200  (mean 15.2, n 1000)"
};

struct ShapeStats {
  std::vector<size_t> level_groups, level_events;  // per level
  size_t multi_parent_groups = 0;                  // groups with more than one parent
  Distribution ancestors;                          // per group: distinct proper ancestors
  Distribution client_groups;      // per client: distinct groups reached (own + ancestors)
  Distribution events_per_ticket;  // per client: distinct events of those groups
};

// Walks the shape as Directory::Summarize walks the directory. With
// max_clients < clients, an evenly spaced sample of clients is used.
ShapeStats ComputeStats(const Shape& s, size_t max_clients);

// The distinct events a client's ticket lists, ascending (for tests).
std::vector<uint32_t> TicketEvents(const Shape& s, uint32_t client);

using Progress = std::function<void(std::string_view phase, size_t done, size_t total)>;

struct WrittenDirectory {
  std::vector<ClientId> client_ids;  // by ordinal
  std::vector<GroupId> group_ids;
  std::vector<EventId> event_ids;
  std::vector<std::string> api_keys;  // encoded tokens (kca_...), parallel to shape.api_key_clients
};

// Writes the shape into an empty directory through the Store interface:
// bulk transactions of o.rows_per_transaction rows, each with one audit
// record. Every event gets a random secret sealed under `sealer`, as
// Directory::CreateEvent does. Clients get no password (Argon2id would
// dominate); API keys are the credentials of the benchmark.
Result<WrittenDirectory> WriteDirectory(const Shape& s, const GeneratorOptions& o, Store* store,
                                        const Sealer* sealer, const Progress& progress);

}  // namespace keycast::bench
