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

}  // namespace
}  // namespace keycast
