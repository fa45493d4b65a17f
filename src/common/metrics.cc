#include "keycast/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>
#include <stdexcept>
#include <type_traits>

namespace keycast {
namespace {

// `a="x",b="y"` -> {{a,x},{b,y}}. The label sets are Keycast's own
// constants; a malformed one is a programming error.
prometheus::Labels ParseLabels(const std::string& text) {
  prometheus::Labels out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eq = text.find("=\"", pos);
    size_t close = eq == std::string::npos ? eq : text.find('"', eq + 2);
    if (close == std::string::npos) throw std::logic_error("malformed metric labels: " + text);
    out[text.substr(pos, eq - pos)] = text.substr(eq + 2, close - eq - 2);
    pos = close + 1;
    if (pos < text.size() && text[pos] == ',') ++pos;
  }
  return out;
}

const char* TypeName(const prometheus::Counter*) { return "counter"; }
const char* TypeName(const prometheus::Gauge*) { return "gauge"; }
const char* TypeName(const prometheus::Histogram*) { return "histogram"; }

prometheus::ClientMetric Collected(const prometheus::Histogram* h) { return h->Collect(); }

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : own_(std::make_unique<prometheus::Histogram>(bounds)),
      h_(own_.get()),
      bounds_(std::move(bounds)) {}

Histogram::Histogram(prometheus::Histogram* h, std::vector<double> bounds)
    : h_(h), bounds_(std::move(bounds)) {}

uint64_t Histogram::count() const { return Collected(h_).histogram.sample_count; }
double Histogram::sum() const { return Collected(h_).histogram.sample_sum; }

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {}

Metrics& Metrics::Global() {
  static Metrics* m = new Metrics();  // never destroyed: threads may outlive main
  return *m;
}

template <typename T>
prometheus::Family<T>& Metrics::FamilyLocked(const std::string& name, const std::string& help) {
  auto it = families_.find(name);
  if (it != families_.end()) {
    if (types_[name] != TypeName(static_cast<const T*>(nullptr)))
      throw std::logic_error("metric " + name + " registered with two types");
    return *static_cast<prometheus::Family<T>*>(it->second);
  }
  prometheus::Family<T>* f;
  if constexpr (std::is_same_v<T, prometheus::Counter>)
    f = &prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
  else if constexpr (std::is_same_v<T, prometheus::Gauge>)
    f = &prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
  else
    f = &prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
  families_[name] = f;
  types_[name] = TypeName(static_cast<const T*>(nullptr));
  return *f;
}

Counter& Metrics::GetCounter(const std::string& name, const std::string& help,
                             const std::string& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Counter*& c = counters_[name + "{" + labels];
  if (!c) {
    auto& f = FamilyLocked<prometheus::Counter>(name, help);
    c = &counter_store_.emplace_back(&f.Add(ParseLabels(labels)));
  }
  return *c;
}

Gauge& Metrics::GetGauge(const std::string& name, const std::string& help,
                         const std::string& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Gauge*& g = gauges_[name + "{" + labels];
  if (!g) {
    auto& f = FamilyLocked<prometheus::Gauge>(name, help);
    g = &gauge_store_.emplace_back(&f.Add(ParseLabels(labels)));
  }
  return *g;
}

Histogram& Metrics::GetHistogram(const std::string& name, const std::string& help,
                                 std::vector<double> bounds, const std::string& labels) {
  std::lock_guard<std::mutex> l(mu_);
  Histogram*& h = histograms_[name + "{" + labels];
  if (!h) {
    auto& f = FamilyLocked<prometheus::Histogram>(name, help);
    auto& ph = f.Add(ParseLabels(labels), prometheus::Histogram::BucketBoundaries(bounds));
    h = &histogram_store_.emplace_back(&ph, std::move(bounds));
  }
  return *h;
}

std::string Metrics::Render() const {
  std::ostringstream o;
  prometheus::TextSerializer().Serialize(o, registry_->Collect());
  return o.str();
}

std::map<std::string, double> Metrics::CounterValues(const std::string& name,
                                                     const std::string& label) const {
  std::map<std::string, double> out;
  for (const auto& family : registry_->Collect()) {
    if (family.name != name || family.type != prometheus::MetricType::Counter) continue;
    for (const auto& m : family.metric)
      for (const auto& l : m.label)
        if (l.name == label) out[l.value] += m.counter.value;
  }
  return out;
}

std::vector<double> LatencyBuckets() {
  return {50e-6, 100e-6, 250e-6, 500e-6, 1e-3,   2.5e-3, 5e-3, 10e-3,
          25e-3, 50e-3,  100e-3, 250e-3, 500e-3, 1.0,    2.5,  5.0};
}

}  // namespace keycast
