// keycast_kdc_load: the Kerberos side of `scripts/bench-keys`. A closed-loop
// TGS load generator on MIT libkrb5 against a KDC on loopback: each thread
// gets a TGT once (AS exchange with a password), then asks for service
// tickets with krb5_get_credentials(KRB5_GC_NO_STORE), so every call is a
// full TGS exchange with the KDC, whose reply libkrb5 decrypts and checks.
// Reports requests/s, latency percentiles and the CPU of the KDC processes
// given with --pids (from /proc/PID/stat), with a "result:" line like
// `keycast bench keys`.
//
//   KRB5_CONFIG=realm/krb5.conf keycast_kdc_load --principal bench@BENCH.TEST
//       --password pw --service-prefix host/svc --services 64 --threads 8
//       --seconds 5 --pids "1234 1235"
#include <krb5.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Options {
  std::string principal, password, service_prefix = "host/svc";
  int services = 64, threads = 8;
  double seconds = 5, warmup = 1;
  std::vector<int> pids;
};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double CpuSeconds(const std::vector<int>& pids) {
  double total = 0;
  for (int pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    std::istringstream rest(line.substr(line.rfind(')') + 2));
    std::string f;
    unsigned long long ut = 0, st = 0;
    for (int i = 3; i <= 15 && rest >> f; ++i) {
      if (i == 14) ut = std::stoull(f);
      if (i == 15) st = std::stoull(f);
    }
    total += static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return total;
}

struct Worker {
  std::vector<int64_t> lat;
  uint64_t ok = 0, failed = 0;
  std::string error;
};

std::string KrbError(krb5_context ctx, krb5_error_code code) {
  const char* m = krb5_get_error_message(ctx, code);
  std::string s = m ? m : "unknown krb5 error";
  krb5_free_error_message(ctx, m);
  return s;
}

void Run(const Options& o, int index, int64_t t_measure, int64_t t_end, std::atomic<int>* ready,
         Worker* w) {
  krb5_context ctx = nullptr;
  krb5_ccache cc = nullptr;
  krb5_principal client = nullptr;
  krb5_creds tgt{};
  std::vector<krb5_principal> services;
  krb5_error_code e = krb5_init_context(&ctx);
  if (e) {
    w->error = "krb5_init_context failed";
    ready->fetch_add(1);
    return;
  }
  auto fail = [&](const char* what, krb5_error_code code) {
    w->error = std::string(what) + ": " + KrbError(ctx, code);
  };
  if ((e = krb5_parse_name(ctx, o.principal.c_str(), &client))) {
    fail("parse principal", e);
  } else if ((e = krb5_cc_new_unique(ctx, "MEMORY", nullptr, &cc))) {
    fail("ccache", e);
  } else if ((e = krb5_get_init_creds_password(ctx, &tgt, client, o.password.c_str(), nullptr,
                                               nullptr, 0, nullptr, nullptr))) {
    fail("AS exchange (TGT)", e);
  } else if ((e = krb5_cc_initialize(ctx, cc, client)) || (e = krb5_cc_store_cred(ctx, cc, &tgt))) {
    fail("store TGT", e);
  }
  for (int i = 0; e == 0 && i < o.services; ++i) {
    krb5_principal p = nullptr;
    std::string name = o.service_prefix + std::to_string(i);
    if ((e = krb5_parse_name(ctx, name.c_str(), &p)))
      fail("parse service", e);
    else
      services.push_back(p);
  }
  ready->fetch_add(1);
  for (int i = index; e == 0; ++i) {
    int64_t start = NowNs();
    if (start >= t_end) break;
    krb5_creds in{};
    in.client = client;
    in.server = services[static_cast<size_t>(i) % services.size()];
    krb5_creds* out = nullptr;
    krb5_error_code r = krb5_get_credentials(ctx, KRB5_GC_NO_STORE, cc, &in, &out);
    int64_t end = NowNs();
    if (start < t_measure) {
      if (out) krb5_free_creds(ctx, out);
      continue;
    }
    if (r == 0 && out && out->ticket.length > 0) {
      ++w->ok;
      w->lat.push_back(end - start);
    } else {
      ++w->failed;
      if (w->error.empty()) fail("TGS exchange", r);
    }
    if (out) krb5_free_creds(ctx, out);
  }
  for (auto p : services) krb5_free_principal(ctx, p);
  if (tgt.client) krb5_free_cred_contents(ctx, &tgt);
  if (cc) krb5_cc_destroy(ctx, cc);
  if (client) krb5_free_principal(ctx, client);
  krb5_free_context(ctx);
}

double Pct(std::vector<int64_t>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  i = std::min(v.size() - 1, i == 0 ? 0 : i - 1);
  return static_cast<double>(v[i]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--principal")
      o.principal = v;
    else if (k == "--password")
      o.password = v;
    else if (k == "--service-prefix")
      o.service_prefix = v;
    else if (k == "--services")
      o.services = std::atoi(v.c_str());
    else if (k == "--threads")
      o.threads = std::atoi(v.c_str());
    else if (k == "--seconds")
      o.seconds = std::atof(v.c_str());
    else if (k == "--warmup")
      o.warmup = std::atof(v.c_str());
    else if (k == "--pids") {
      std::istringstream in(v);
      for (int p; in >> p;) o.pids.push_back(p);
    } else {
      std::fprintf(stderr, "keycast_kdc_load: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.principal.empty() || o.password.empty() || o.services < 1 || o.threads < 1 ||
      o.threads > 256 || o.seconds <= 0 || o.seconds > 600) {
    std::fprintf(stderr,
                 "usage: keycast_kdc_load --principal P --password PW [--service-prefix host/svc] "
                 "[--services N]\n"
                 "       [--threads T] [--seconds S] [--warmup W] [--pids \"PID ...\"]\n");
    return 2;
  }
  std::vector<Worker> workers(static_cast<size_t>(o.threads));
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  // Each thread first gets its TGT (an AS exchange), then loads until te;
  // what it sends before tm is warm-up.
  int64_t tm = NowNs() + static_cast<int64_t>((1 + o.warmup) * 1e9);
  int64_t te = tm + static_cast<int64_t>(o.seconds * 1e9);
  for (int i = 0; i < o.threads; ++i)
    threads.emplace_back(Run, std::cref(o), i, tm, te, &ready, &workers[static_cast<size_t>(i)]);
  while (NowNs() < tm) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  double cpu0 = CpuSeconds(o.pids);
  while (NowNs() < te) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  double cpu1 = CpuSeconds(o.pids);
  for (auto& t : threads) t.join();
  uint64_t ok = 0, failed = 0;
  std::vector<int64_t> lat;
  std::string error;
  for (auto& w : workers) {
    ok += w.ok;
    failed += w.failed;
    lat.insert(lat.end(), w.lat.begin(), w.lat.end());
    if (error.empty()) error = w.error;
  }
  std::sort(lat.begin(), lat.end());
  double secs = o.seconds;
  double rate = static_cast<double>(ok) / secs;
  double cpu_pct = 100 * (cpu1 - cpu0) / secs;
  std::printf(
      "KDC TGS load: %d threads (closed loop, one request in flight each), %d service principals, "
      "%.1f s\n",
      o.threads, o.services, secs);
  std::printf("  TGS requests   %llu ok, %llu failed%s%s\n", static_cast<unsigned long long>(ok),
              static_cast<unsigned long long>(failed),
              error.empty() ? "" : "; first error: ", error.c_str());
  std::printf("  throughput     %.0f TGS requests/s\n", rate);
  std::printf("  latency        p50 %.0f us  p99 %.0f us  max %.0f us\n", Pct(lat, 0.5),
              Pct(lat, 0.99), lat.empty() ? 0.0 : static_cast<double>(lat.back()) / 1000);
  std::printf("  KDC CPU        %.0f %% of one core (%zu processes)\n", cpu_pct, o.pids.size());
  std::printf(
      "result: scenario=kdc rate=%.0f ok=%llu failed=%llu p50_us=%.1f p99_us=%.1f "
      "kdc_cpu_pct=%.1f\n",
      rate, static_cast<unsigned long long>(ok), static_cast<unsigned long long>(failed),
      Pct(lat, 0.5), Pct(lat, 0.99), cpu_pct);
  return ok > 0 && failed == 0 ? 0 : 1;
}
