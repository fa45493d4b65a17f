#include "keycast/metrics.h"

#include <gtest/gtest.h>

namespace keycast {
namespace {

TEST(Metrics, RendersPrometheusText) {
  Metrics m;
  m.GetCounter("kc_requests_total", "Requests.", "result=\"ok\"").Inc(3);
  m.GetCounter("kc_requests_total", "Requests.", "result=\"ok\"").Inc();
  m.GetGauge("kc_clients", "Clients.").Set(12);
  auto& h = m.GetHistogram("kc_latency_seconds", "Latency.", {0.001, 0.01});
  h.Observe(0.0005);
  h.Observe(0.005);
  h.Observe(1);
  std::string s = m.Render();
  EXPECT_NE(s.find("# TYPE kc_requests_total counter\n"), std::string::npos);
  EXPECT_NE(s.find("kc_requests_total{result=\"ok\"} 4\n"), std::string::npos);
  EXPECT_NE(s.find("kc_clients 12\n"), std::string::npos);
  EXPECT_NE(s.find("kc_latency_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos);
  EXPECT_NE(s.find("kc_latency_seconds_bucket{le=\"0.01\"} 2\n"), std::string::npos);
  EXPECT_NE(s.find("kc_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(s.find("kc_latency_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, OneFamilyPerNameWhateverTheHelpAndLabelSets) {
  Metrics m;
  m.GetCounter("kc_drops_total", "Drops.", "reason=\"replay\",path=\"udp\"").Inc(2);
  m.GetCounter("kc_drops_total", "", "reason=\"auth\",path=\"udp\"").Inc();
  m.GetCounter("kc_drops_total", "Drops.", "reason=\"replay\",path=\"udp\"").Inc();
  std::string s = m.Render();
  EXPECT_NE(s.find("kc_drops_total{path=\"udp\",reason=\"replay\"} 3\n"), std::string::npos) << s;
  EXPECT_NE(s.find("kc_drops_total{path=\"udp\",reason=\"auth\"} 1\n"), std::string::npos) << s;
  EXPECT_EQ(s.find("# TYPE kc_drops_total counter"), s.rfind("# TYPE kc_drops_total counter"));
  auto by_reason = m.CounterValues("kc_drops_total", "reason");
  EXPECT_EQ(by_reason["replay"], 3);
  EXPECT_EQ(by_reason["auth"], 1);
  EXPECT_TRUE(m.CounterValues("kc_drops_total", "nosuch").empty());
  EXPECT_TRUE(m.CounterValues("kc_other_total", "reason").empty());
  EXPECT_THROW(m.GetGauge("kc_drops_total", "Drops."), std::logic_error);
}

TEST(Metrics, PrivateSeriesAreNotExported) {
  Counter c;
  c.Inc(5);
  EXPECT_EQ(c.value(), 5u);
  Gauge g;
  g.Set(7);
  g.Add(-2);
  EXPECT_EQ(g.value(), 5);
  Histogram h({1.0});
  h.Observe(0.5);
  h.Observe(2);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_DOUBLE_EQ(h.sum(), 2.5);
  EXPECT_EQ(Metrics().Render(), "");
}

}  // namespace
}  // namespace keycast
