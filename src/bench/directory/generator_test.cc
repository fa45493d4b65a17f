// The benchmark generator, on a tiny directory: the invariants the
// benchmarks rely on, checked on what the Directory loads back.
#include "bench/directory/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "bench/directory/measure.h"
#include "directory/validate.h"
#include "keycast/crypto.h"
#include "keycast/directory.h"
#include "keycast/service_keys.h"
#include "keycast/ticket_service.h"

namespace keycast::bench {
namespace {

GeneratorOptions Tiny() {
  GeneratorOptions o;
  o.clients = 1000;
  o.groups = 200;
  o.events = 2000;
  o.api_keys = 50;
  o.max_depth = 16;
  o.seed = 42;
  o.rows_per_transaction = 500;  // several transactions
  return o;
}

// Longest path, in groups, over parent -> child edges; -1 if there is a cycle.
int LongestPath(size_t n, const std::vector<std::pair<size_t, size_t>>& edges) {
  std::vector<std::vector<size_t>> children(n);
  std::vector<int> indegree(n, 0), depth(n, 1);
  for (auto [p, c] : edges) {
    children[p].push_back(c);
    ++indegree[c];
  }
  std::vector<size_t> ready;
  for (size_t g = 0; g < n; ++g)
    if (indegree[g] == 0) ready.push_back(g);
  size_t seen = 0;
  int longest = 0;
  while (!ready.empty()) {
    size_t g = ready.back();
    ready.pop_back();
    ++seen;
    longest = std::max(longest, depth[g]);
    for (size_t c : children[g]) {
      depth[c] = std::max(depth[c], depth[g] + 1);
      if (--indegree[c] == 0) ready.push_back(c);
    }
  }
  return seen == n ? longest : -1;
}

TEST(GeneratorShape, IsALayeredDagWithTheRequestedCounts) {
  GeneratorOptions o = Tiny();
  Shape s = BuildShape(o);
  EXPECT_EQ(s.clients(), o.clients);
  EXPECT_EQ(s.groups(), o.groups);
  EXPECT_EQ(s.events(), o.events);
  EXPECT_EQ(s.levels(), 16u);
  EXPECT_EQ(s.api_key_clients.size(), o.api_keys);
  std::vector<std::pair<size_t, size_t>> edges;
  size_t multi = 0;
  for (uint32_t g = 0; g < s.groups(); ++g) {
    size_t n = s.parent_begin[g + 1] - s.parent_begin[g];
    EXPECT_EQ(n == 0, s.Level(g) == 0) << "group " << g;  // only roots lack a parent
    multi += n > 1;
    std::set<uint32_t> distinct;
    for (uint32_t i = s.parent_begin[g]; i < s.parent_begin[g + 1]; ++i) {
      EXPECT_LT(s.Level(s.parents[i]), s.Level(g));
      distinct.insert(s.parents[i]);
      edges.emplace_back(s.parents[i], g);
    }
    EXPECT_EQ(distinct.size(), n);
  }
  EXPECT_GT(multi, s.groups() / 10) << "a DAG with several parents, not a tree";
  int longest = LongestPath(s.groups(), edges);
  EXPECT_GT(longest, 0);
  EXPECT_LE(longest, o.max_depth);
  for (uint32_t c = 0; c < s.clients(); ++c) {
    size_t n = s.member_begin[c + 1] - s.member_begin[c];
    EXPECT_GE(n, 1u);
    EXPECT_LE(n, 3u);
  }
  for (uint32_t e = 0; e < s.events(); ++e) {
    size_t n = s.event_group_begin[e + 1] - s.event_group_begin[e];
    EXPECT_GE(n, 1u);
    EXPECT_LE(n, 2u);
  }
  // Deep levels hold most events.
  ShapeStats st = ComputeStats(s, s.clients());
  size_t deep = st.level_events[s.levels() - 1] + st.level_events[s.levels() - 2];
  EXPECT_GT(deep * 2, s.assignments());
  EXPECT_LT(st.level_events[0], s.assignments() / 20);
  EXPECT_GT(st.events_per_ticket.p50, 0u);
  EXPECT_EQ(st.events_per_ticket.count, s.clients());
}

TEST(GeneratorShape, IsDeterministicForASeed) {
  Shape a = BuildShape(Tiny());
  Shape b = BuildShape(Tiny());
  EXPECT_EQ(a.parents, b.parents);
  EXPECT_EQ(a.event_groups, b.event_groups);
  EXPECT_EQ(a.member_group, b.member_group);
  GeneratorOptions o = Tiny();
  o.seed = 43;
  EXPECT_NE(BuildShape(o).parents, a.parents);
}

TEST(GeneratorShape, CapsDepthAtTheGroupCount) {
  GeneratorOptions o = Tiny();
  o.groups = 5;
  Shape s = BuildShape(o);
  EXPECT_EQ(s.levels(), 5u);
  EXPECT_EQ(s.groups(), 5u);
}

class GeneratedDirectory : public ::testing::Test {
 protected:
  void SetUp() override {
    o_ = Tiny();
    shape_ = BuildShape(o_);
    store_ = std::move(OpenSqliteStore(":memory:")).value();
    sealer_ = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
    size_t progress_calls = 0;
    auto written = WriteDirectory(shape_, o_, store_.get(), sealer_.get(),
                                  [&](std::string_view, size_t, size_t) { ++progress_calls; });
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    written_ = std::move(written).value();
    EXPECT_GT(progress_calls, 7u);
    dir_ = std::move(Directory::Open(store_.get(), sealer_.get(), &SystemClock::Get(),
                                     {PasswordCost::kTestOnly}))
               .value();
  }

  GeneratorOptions o_;
  Shape shape_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Sealer> sealer_;
  WrittenDirectory written_;
  std::unique_ptr<Directory> dir_;
};

TEST_F(GeneratedDirectory, LoadsWithTheShapesCounts) {
  auto c = dir_->counts();
  EXPECT_EQ(c.clients, o_.clients);
  EXPECT_EQ(c.groups, o_.groups);
  EXPECT_EQ(c.events, o_.events);
  EXPECT_EQ(c.edges, shape_.edges());
  EXPECT_EQ(c.memberships, shape_.memberships());
  EXPECT_EQ(c.assignments, shape_.assignments());
  EXPECT_EQ(dir_->ListApiKeys(ClientName(shape_.api_key_clients[0])).size(), 1u);
  // One audit record per transaction.
  EXPECT_GT(store_->ReadAudit(0, 100000)->size(), 8u);
}

TEST_F(GeneratedDirectory, StoredGraphIsAcyclicAndWithinTheDepthBound) {
  std::map<int64_t, size_t> index;
  for (size_t g = 0; g < written_.group_ids.size(); ++g) index[written_.group_ids[g].value] = g;
  std::vector<std::pair<size_t, size_t>> edges;
  for (const Edge& e : dir_->ListEdges())
    edges.emplace_back(index.at(e.parent.value), index.at(e.child.value));
  EXPECT_EQ(edges.size(), shape_.edges());
  int longest = LongestPath(o_.groups, edges);
  EXPECT_NE(longest, -1) << "cycle";
  EXPECT_LE(longest, o_.max_depth);
  // The directory itself refuses to close a cycle through the generated DAG.
  uint32_t leaf = shape_.level_begin[shape_.levels() - 1];
  uint32_t root = shape_.parents[shape_.parent_begin[leaf]];
  while (shape_.parent_begin[root + 1] > shape_.parent_begin[root])
    root = shape_.parents[shape_.parent_begin[root]];
  Status st = dir_->AddEdge(Actor{"test"}, GroupName(leaf), GroupName(root));
  EXPECT_EQ(st.code(), Code::kFailedPrecondition) << st.ToString();
}

TEST_F(GeneratedDirectory, EveryClientHasMembershipsAndEveryEventIsValid) {
  for (size_t c = 0; c < o_.clients; ++c) {
    auto v = dir_->GetClient(ClientName(c));
    ASSERT_TRUE(v.ok()) << ClientName(c);
    EXPECT_FALSE(v->groups.empty()) << ClientName(c);
    EXPECT_LE(v->groups.size(), 3u);
  }
  size_t senders = 0;
  for (const auto& m : dir_->ListMemberships("", "")) senders += m.role == Role::kSender;
  EXPECT_GT(senders, 0u);
  EXPECT_LT(senders, shape_.memberships() / 10);
  auto events = dir_->ListEvents("", o_.events + 1);
  ASSERT_EQ(events.size(), o_.events);
  for (const auto& e : events) {
    ASSERT_TRUE(ValidateEvent(*e.event).ok())
        << e.event->name << ": " << ValidateEvent(*e.event).ToString();
    ASSERT_TRUE(store_->GetEventSecret(e.event->id, 1).ok()) << e.event->name;
  }
  // The sealed secret opens under the KEK, bound to its event.
  EventId first = events.front().event->id;
  auto sealed = store_->GetEventSecret(first, 1);
  EXPECT_TRUE(sealer_->Open("event-secret", "event:" + std::to_string(first.value), *sealed).ok());
}

TEST_F(GeneratedDirectory, SummariesMatchTheShape) {
  size_t non_empty = 0;
  size_t largest = 0;
  for (uint32_t c = 0; c < o_.clients; c += 7) {
    auto s = dir_->Summarize(written_.client_ids[c]);
    ASSERT_TRUE(s.ok());
    std::vector<int64_t> got, want;
    for (const auto& e : s->events) got.push_back(e.event->id.value);
    for (uint32_t e : TicketEvents(shape_, c)) want.push_back(written_.event_ids[e].value);
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want) << ClientName(c);
    non_empty += !got.empty();
    largest = std::max(largest, got.size());
  }
  // A known client: the one with the largest ticket has a non-empty summary.
  EXPECT_GT(largest, 0u);
  EXPECT_GT(non_empty * 10, (o_.clients / 7) * 9) << "most clients have events";
}

TEST_F(GeneratedDirectory, ApiKeysAuthenticateTheirClientAndTicketsIssue) {
  auto keys =
      std::move(ServiceKeys::Open(store_.get(), sealer_.get(), &SystemClock::Get(), 3600, true))
          .value();
  TicketService tickets(dir_.get(), keys.get(), &SystemClock::Get(), TicketServiceOptions{});
  for (size_t i = 0; i < written_.api_keys.size(); ++i) {
    auto who = dir_->AuthenticateApiKey(written_.api_keys[i]);
    ASSERT_TRUE(who.ok()) << who.status().ToString();
    EXPECT_EQ(who->name, ClientName(shape_.api_key_clients[i]));
    if (i < 5) {
      auto t = tickets.Issue(*who);
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      EXPECT_EQ(t->events, TicketEvents(shape_, shape_.api_key_clients[i]).size());
    }
  }
}

TEST(Measure, PercentilesAndDistributions) {
  LatencyRecorder r;
  for (int i = 1; i <= 1000; ++i) r.Add(i * 1000);
  EXPECT_EQ(r.Percentile(0.5), 501000);
  EXPECT_EQ(r.Percentile(0.99), 991000);
  EXPECT_EQ(r.Max(), 1000000);
  EXPECT_NE(r.Histogram().find('#'), std::string::npos);
  Distribution d = Distribution::Of({5, 1, 3});
  EXPECT_EQ(d.min, 1u);
  EXPECT_EQ(d.p50, 3u);
  EXPECT_EQ(d.max, 5u);
  EXPECT_GT(ReadProcMemory().rss_bytes, 0);
}

}  // namespace
}  // namespace keycast::bench
