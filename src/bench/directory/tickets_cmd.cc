// keycast bench directory tickets
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench/directory/bench_directory.h"
#include "bench/directory/data_dir.h"
#include "bench/directory/measure.h"
#include "keycast/server.h"
#include "keycast/ticket.h"

namespace keycast::bench {
namespace {

constexpr double kTicketsPerSecondTarget = 10'000;

struct Worker {
  LatencyRecorder latency;
  size_t ok = 0;
  size_t failed = 0;
  size_t bytes = 0;
  double cpu_seconds = 0;  // this thread, inside the measured window
  std::string first_error;
};

// Checks one answer end to end: JSON, base64, signature, validity window.
Status VerifyReply(const std::string& body, Node* node) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("ticket") || !j["ticket"].is_string())
    return Internal("ticket answer is not the expected JSON");
  Bytes ticket;
  if (!Base64Decode(j["ticket"].get<std::string>(), &ticket))
    return Internal("ticket is not base64");
  std::shared_ptr<const crypto::VerifyKey> holder;
  auto lookup = [&](KeyVersion v) -> const crypto::VerifyKey* {
    holder = node->service_keys()->Verifier(kTicketSigningKey, v);
    return holder.get();
  };
  auto t = VerifyTicket(ticket, lookup, SystemClock::Get().NowSeconds(), 30);
  if (!t.ok()) return Internal("issued ticket does not verify: " + t.status().message());
  return Status::Ok();
}

}  // namespace

Status RunTickets(const TicketsCommandOptions& o) {
  if (o.data_dir.empty()) return InvalidArgument("--data-dir is required");
  if (o.threads < 1 || o.threads > 256) return InvalidArgument("--threads must be 1-256");
  if (o.seconds <= 0 || o.seconds > 600) return InvalidArgument("--seconds must be in (0, 600]");
  KC_ASSIGN_OR_RETURN(std::vector<BenchApiKey> keys, ReadApiKeys(o.data_dir));
  {
    // Refuse early, with the generator's message, when there is no directory.
    KC_ASSIGN_OR_RETURN(BenchData probe, OpenBenchData(o.data_dir));
  }

  NodeConfig c;
  c.data_dir = o.data_dir;
  c.roles = {"ticket"};
  c.http_addr = "127.0.0.1:0";
  c.http_threads = o.http_threads != 0 ? o.http_threads : std::max<size_t>(16, o.threads);
  int64_t t0 = NowNanos();
  KC_ASSIGN_OR_RETURN(auto node, Node::Create(c));
  KC_RETURN_IF_ERROR(node->Start());
  int64_t t1 = NowNanos();
  std::string url = node->http_url();
  int port = std::stoi(url.substr(url.rfind(':') + 1));
  ProcMemory mem = ReadProcMemory();
  std::printf("Node (role ticket) at %s, %zu handler threads; loaded in %.1f s, VmRSS %s\n",
              url.c_str(), c.http_threads, static_cast<double>(t1 - t0) / 1e9,
              FormatBytes(static_cast<double>(mem.rss_bytes)).c_str());
  std::printf(
      "Load: %zu client threads, one keep-alive connection each, POST /v1/tickets with Bearer API "
      "keys "
      "of %zu clients; warm-up %.1f s, then %.1f s or %zu tickets\n",
      o.threads, keys.size(), o.warmup_seconds, o.seconds, o.max_requests);
  std::fflush(stdout);

  std::vector<std::string> bearer;
  bearer.reserve(keys.size());
  for (const auto& k : keys) bearer.push_back("Bearer " + k.token);

  std::vector<Worker> workers(o.threads);
  std::atomic<size_t> measured{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> verify_failed{false};
  std::string verify_error;
  std::mutex verify_mu;
  const int64_t start = NowNanos();
  const int64_t window_begin = start + static_cast<int64_t>(o.warmup_seconds * 1e9);
  const int64_t window_end = window_begin + static_cast<int64_t>(o.seconds * 1e9);

  std::vector<std::thread> threads;
  for (size_t i = 0; i < o.threads; ++i) {
    threads.emplace_back([&, i] {
      Worker& w = workers[i];
      httplib::Client cli("127.0.0.1", port);
      cli.set_keep_alive(true);
      cli.set_tcp_nodelay(true);
      cli.set_connection_timeout(5, 0);
      cli.set_read_timeout(30, 0);
      size_t k = i % bearer.size();
      bool verified = false, in_window = false;
      double cpu0 = 0;
      for (;;) {
        int64_t a = NowNanos();
        if (!in_window && a >= window_begin) {
          in_window = true;
          cpu0 = ThreadCpuSeconds();
        }
        if (a >= window_end || stop.load(std::memory_order_relaxed)) break;
        if (in_window && measured.fetch_add(1, std::memory_order_relaxed) >= o.max_requests) {
          stop.store(true);
          break;
        }
        httplib::Headers h{{"Authorization", bearer[k]}};
        auto res = cli.Post("/v1/tickets", h, "", "application/json");
        int64_t b = NowNanos();
        k = (k + o.threads) % bearer.size();
        bool good = res && res->status == 200;
        if (good && !verified) {
          verified = true;
          Status st = VerifyReply(res->body, node.get());
          if (!st.ok()) {
            std::lock_guard<std::mutex> l(verify_mu);
            verify_error = st.message();
            verify_failed.store(true);
            stop.store(true);
          }
        }
        if (!in_window) continue;
        w.latency.Add(b - a);
        if (good) {
          ++w.ok;
          w.bytes += res->body.size();
        } else {
          ++w.failed;
          if (w.first_error.empty())
            w.first_error = res ? "HTTP " + std::to_string(res->status) + ": " + res->body
                                : "transport error " + httplib::to_string(res.error());
        }
      }
      if (in_window) w.cpu_seconds = ThreadCpuSeconds() - cpu0;
    });
  }
  if (int64_t wait = window_begin - NowNanos(); wait > 0)
    std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
  double cpu_a = ProcessCpuSeconds();
  int64_t wall_a = NowNanos();
  for (auto& t : threads) t.join();
  int64_t wall_b = NowNanos();
  double cpu_b = ProcessCpuSeconds();
  node->Stop();
  if (verify_failed.load()) return Internal(verify_error);

  LatencyRecorder all;
  size_t ok = 0, failed = 0, bytes = 0;
  double client_cpu = 0;
  std::string first_error;
  for (auto& w : workers) {
    all.Merge(w.latency);
    ok += w.ok;
    failed += w.failed;
    bytes += w.bytes;
    client_cpu += w.cpu_seconds;
    if (first_error.empty()) first_error = w.first_error;
  }
  double wall = static_cast<double>(wall_b - wall_a) / 1e9;
  double process_cpu = cpu_b - cpu_a;
  double server_cpu = std::max(0.0, process_cpu - client_cpu);
  double rate = static_cast<double>(ok) / wall;
  std::printf("\n%zu tickets in %.2f s: %.0f tickets/s (%zu failed%s%s)\n", ok, wall, rate, failed,
              first_error.empty() ? "" : ", first: ", first_error.substr(0, 200).c_str());
  std::printf("  latency  %s\n", all.Summary().c_str());
  if (o.histogram) std::printf("%s", all.Histogram().c_str());
  std::printf("  mean answer %zu bytes\n", ok ? bytes / ok : 0);
  std::printf(
      "  CPU: process %.2f s (%.2f cores); server %.2f s (%.2f cores, %.1f us/ticket); "
      "load generator %.2f s (%.2f cores, %.1f us/ticket)\n",
      process_cpu, process_cpu / wall, server_cpu, server_cpu / wall,
      ok ? server_cpu / static_cast<double>(ok) * 1e6 : 0.0, client_cpu, client_cpu / wall,
      ok ? client_cpu / static_cast<double>(ok) * 1e6 : 0.0);
  // On a machine shared with other work the window may not get every core;
  // CPU per ticket says what the cores it did get would give if whole.
  unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  double cpu_per_ticket = ok ? process_cpu / static_cast<double>(ok) : 0;
  double capacity = cpu_per_ticket > 0 ? static_cast<double>(cores) / cpu_per_ticket : 0;
  std::printf(
      "  CPU-normalised: %.0f tickets per core-second (server and load generator) -> %.0f "
      "tickets/s "
      "on %u whole cores\n",
      cpu_per_ticket > 0 ? 1 / cpu_per_ticket : 0.0, capacity, cores);
  std::printf("\nTargets:\n%s\n",
              TargetLine("tickets/s", rate, kTicketsPerSecondTarget, "/s", false).c_str());
  std::printf(
      "\nresult: tickets_per_second=%.0f ticket_p50_us=%.1f ticket_p99_us=%.1f ticket_max_us=%.1f "
      "failed=%zu server_cores=%.2f server_us_per_ticket=%.1f client_cores=%.2f "
      "client_us_per_ticket=%.1f "
      "process_cores=%.2f capacity_per_second=%.0f threads=%zu\n",
      rate, static_cast<double>(all.Percentile(0.5)) / 1e3,
      static_cast<double>(all.Percentile(0.99)) / 1e3, static_cast<double>(all.Max()) / 1e3, failed,
      server_cpu / wall, ok ? server_cpu / static_cast<double>(ok) * 1e6 : 0.0, client_cpu / wall,
      ok ? client_cpu / static_cast<double>(ok) * 1e6 : 0.0, process_cpu / wall, capacity,
      o.threads);
  if (ok == 0)
    return Internal("no ticket was issued" + (first_error.empty() ? "" : ": " + first_error));
  return Status::Ok();
}

}  // namespace keycast::bench
