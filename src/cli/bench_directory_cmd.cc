// keycast bench directory generate | summary | tickets
// (docs/bench-directory.md). The code is in src/bench/directory; these
// commands exist when that part is built.
#include "cli/commands.h"

#ifdef KEYCAST_HAVE_BENCH_DIRECTORY

#include "bench/directory/bench_directory.h"

namespace keycast::cli {
namespace {

void Run(const Status& st) {
  if (!st.ok()) throw Exit{Fail(st)};
}

}  // namespace

static void RegisterBenchDirectoryCommands(CLI::App& app) {
  auto* bench = Subcommand(app, "bench", "Benchmarks on synthetic data (not run in CI)");
  auto* dir = bench->add_subcommand(
      "directory", "Directory, summary and ticket benchmarks (docs/bench-directory.md)");
  dir->require_subcommand(1);

  // ---- generate
  static bench::GenerateCommandOptions gen;
  auto* g = dir->add_subcommand("generate", "Write a synthetic directory into a data folder");
  g->add_option("--data-dir", gen.data_dir, "Folder for keycast.db, kek and the benchmark files")
      ->required();
  g->add_option("--clients", gen.generator.clients, "Clients")->capture_default_str();
  g->add_option("--groups", gen.generator.groups, "Groups")->capture_default_str();
  g->add_option("--events", gen.generator.events, "Events")->capture_default_str();
  g->add_option("--api-keys", gen.generator.api_keys, "Clients that get an API key")
      ->capture_default_str();
  g->add_option("--depth", gen.generator.max_depth, "Levels of the group DAG")
      ->capture_default_str();
  g->add_option("--seed", gen.generator.seed, "Random seed")->capture_default_str();
  g->add_option("--extra-parent-probability", gen.generator.extra_parent_probability,
                "Chance of each parent beyond the first")
      ->capture_default_str();
  g->add_option("--rows-per-transaction", gen.generator.rows_per_transaction,
                "Rows per store transaction")
      ->capture_default_str();
  g->add_option("--stats-clients", gen.stats_clients,
                "Clients walked for the events-per-ticket figures")
      ->capture_default_str();
  g->add_flag("--force", gen.force, "Replace a directory already in --data-dir");
  g->callback([] { Run(bench::RunGenerate(gen)); });

  // ---- summary
  static bench::SummaryCommandOptions sum;
  auto* s = dir->add_subcommand("summary",
                                "Load the directory; time Summarize, AuthenticateApiKey and Issue");
  s->add_option("--data-dir", sum.data_dir, "Folder written by `generate`")->required();
  s->add_option("--samples", sum.samples, "Summarize calls (random clients)")
      ->capture_default_str();
  s->add_option("--issue-samples", sum.issue_samples, "TicketService::Issue calls")
      ->capture_default_str();
  s->add_option("--auth-samples", sum.auth_samples, "AuthenticateApiKey calls")
      ->capture_default_str();
  s->add_option("--seed", sum.seed, "Picks the sample")->capture_default_str();
  s->callback([] { Run(bench::RunSummary(sum)); });

  // ---- tickets
  static bench::TicketsCommandOptions tk;
  auto* t = dir->add_subcommand(
      "tickets", "Tickets over loopback HTTP with API keys, from a node in this process");
  t->add_option("--data-dir", tk.data_dir, "Folder written by `generate`")->required();
  t->add_option("--threads", tk.threads, "Client threads (one keep-alive connection each)")
      ->capture_default_str();
  t->add_option("--seconds", tk.seconds, "Measured window, seconds")->capture_default_str();
  t->add_option("--warmup", tk.warmup_seconds, "Warm-up before the window, seconds")
      ->capture_default_str();
  t->add_option("--max-requests", tk.max_requests, "Stop after this many measured requests")
      ->capture_default_str();
  t->add_option("--http-threads", tk.http_threads, "Server handler threads (0 = max(16, threads))")
      ->capture_default_str();
  t->callback([] { Run(bench::RunTickets(tk)); });
}

static CommandRegistrar registrar(90, &RegisterBenchDirectoryCommands);

}  // namespace keycast::cli

#endif  // KEYCAST_HAVE_BENCH_DIRECTORY
