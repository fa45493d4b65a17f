// The keycast executable end to end: the real binary ($KEYCAST_BIN) against
// a real `keycast server` that each test starts on free loopback ports with a
// data dir of its own, and stops by PID.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace keycast {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using Env = std::map<std::string, std::string>;
using Clock = std::chrono::steady_clock;

constexpr auto kCommandTimeout = std::chrono::seconds(60);
constexpr auto kStartTimeout = std::chrono::seconds(30);

std::string Bin() {
  const char* b = std::getenv("KEYCAST_BIN");
  return b ? b : "";
}

// The environment of a child: ours without any KEYCAST_* variable (so the
// developer's own token or address cannot leak in), plus `extra`.
std::vector<std::string> ChildEnv(const Env& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "KEYCAST_", 8) != 0) env.emplace_back(*e);
  for (const auto& [k, v] : extra) env.push_back(k + "=" + v);
  return env;
}

// fork + exec of the keycast binary. The child's stdin, stdout and stderr are
// the given descriptors.
pid_t Spawn(const std::vector<std::string>& args, const Env& env, int in, int out, int err) {
  std::vector<std::string> argv_s = {Bin()};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = ChildEnv(env);
  std::vector<char*> argv, envp;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in, 0);
    dup2(out, 1);
    dup2(err, 2);
    for (int fd = 3; fd < 256; ++fd) close(fd);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

struct Output {
  int code = -1;
  std::string out, err;
};

std::ostream& operator<<(std::ostream& os, const Output& o) {
  return os << "exit " << o.code << "\n--- stdout\n" << o.out << "--- stderr\n" << o.err;
}

// Runs keycast to completion (killed after kCommandTimeout).
Output RunKeycast(const std::vector<std::string>& args, const Env& env = {},
                  const std::string& input = "") {
  int in[2], out[2], err[2];
  if (pipe(in) != 0 || pipe(out) != 0 || pipe(err) != 0) return {};
  pid_t pid = Spawn(args, env, in[0], out[1], err[1]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!input.empty()) (void)!write(in[1], input.data(), input.size());  // small: fits the pipe
  close(in[1]);
  Output o;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  auto deadline = Clock::now() + kCommandTimeout;
  int open_fds = 2;
  while (open_fds > 0 && Clock::now() < deadline) {
    if (poll(fds, 2, 200) <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        (i == 0 ? o.out : o.err).append(buf, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  if (open_fds > 0) kill(pid, SIGKILL);  // timed out
  waitpid(pid, &status, 0);
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return o;
}

// A keycast process running in the background, its output in files; stopped
// (SIGTERM, then SIGKILL) by PID on destruction.
class Background {
 public:
  Background(const std::vector<std::string>& args, const Env& env, const fs::path& dir,
             const std::string& tag)
      : out_path_(dir / (tag + ".out")), err_path_(dir / (tag + ".err")) {
    int null = open("/dev/null", O_RDONLY);
    int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_ = Spawn(args, env, null, out, err);
    close(null);
    close(out);
    close(err);
  }
  ~Background() { Stop(); }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  bool Running() {
    if (pid_ <= 0) return false;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return false;
    }
    return true;
  }
  // Stops the process; returns its exit code.
  int Stop() {
    if (!Running()) return exit_code_;
    kill(pid_, SIGTERM);
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Running() && Clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (Running()) {
      kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
      pid_ = -1;
      exit_code_ = 137;
    }
    return exit_code_;
  }
  std::string Stdout() const { return Slurp(out_path_); }
  std::string Stderr() const { return Slurp(err_path_); }

 private:
  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path out_path_, err_path_;
  pid_t pid_ = -1;
  int exit_code_ = -1;
};

// A loopback TCP port nobody listens on right now.
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

// GET /v1/health on 127.0.0.1:port; the HTTP status, or 0 when nothing answers.
int Health(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/v1/health");
  return r ? r->status : 0;
}

int HealthAt(const std::string& url) {
  httplib::Client c(url);
  c.set_connection_timeout(1, 0);
  c.set_read_timeout(5, 0);
  auto r = c.Get("/v1/health");
  if (!r) return 0;
  json j = json::parse(r->body, nullptr, false);
  return r->status == 200 && j.is_object() && j.value("status", "") == "ok" ? 200 : r->status;
}

// Waits until something answers /v1/health on the port, or the process ends.
bool WaitHealthy(Background& p, int port) {
  auto deadline = Clock::now() + kStartTimeout;
  while (Clock::now() < deadline) {
    if (!p.Running()) return false;
    if (Health(port) == 200) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The first kct_... token in `text`, or "".
std::string FindToken(const std::string& text, const char* prefix = "kct_") {
  std::smatch m;
  std::regex re(std::string(prefix) + "[A-Za-z0-9_]+");
  return std::regex_search(text, m, re) ? m.str() : "";
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(Bin().empty())
        << "KEYCAST_BIN is not set: run this test through ctest (keycast_test sets it to "
           "the keycast executable), or export KEYCAST_BIN=/path/to/keycast";
    ASSERT_EQ(access(Bin().c_str(), X_OK), 0)
        << "KEYCAST_BIN=" << Bin() << " is not an executable file";
    char tmpl[] = "/tmp/keycast-cli-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
  }
  void TearDown() override {
    server_.reset();  // stop before removing its files
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }

  // `keycast init` in a fresh data dir; returns the admin token it printed.
  std::string Init(const fs::path& data_dir) {
    Output o = RunKeycast({"init", "--data-dir", data_dir.string()});
    EXPECT_EQ(o.code, 0) << o;
    std::string tok = FindToken(o.out);
    EXPECT_FALSE(tok.empty()) << o;
    return tok;
  }

  // init + `keycast server` with every default role on free loopback ports.
  void StartServer() {
    fs::path data = tmp_ / "data";
    token_ = Init(data);
    ASSERT_FALSE(token_.empty());
    port_ = FreePort();
    url_ = "http://127.0.0.1:" + std::to_string(port_);
    server_ = std::make_unique<Background>(
        std::vector<std::string>{"server", "--data-dir", data.string(), "--http-addr",
                                 "127.0.0.1:" + std::to_string(port_), "--key-addr", "127.0.0.1:0"},
        Env{}, tmp_, "server");
    ASSERT_TRUE(WaitHealthy(*server_, port_)) << "server did not start:\n" << server_->Stderr();
  }

  Env AdminEnv() const { return {{"KEYCAST_ADDR", url_}, {"KEYCAST_TOKEN", token_}}; }

  // `keycast admin ARGS` with the server's address and token.
  Output Admin(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), "admin");
    return RunKeycast(args, AdminEnv(), input);
  }
  // Same, expecting success.
  std::string Ok(std::vector<std::string> args, const std::string& input = "") {
    Output o = Admin(args, input);
    std::string cmd;
    for (auto& a : args) cmd += a + " ";
    EXPECT_EQ(o.code, 0) << cmd << "\n" << o;
    return o.out;
  }
  // Same with --json, parsed.
  json Json(std::vector<std::string> args) {
    args.push_back("--json");
    std::string out = Ok(args);
    json j = json::parse(out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << out;
    return j;
  }
  size_t AuditCount() {
    json j = Json({"audit", "--limit", "1000"});
    return j.contains("records") ? j["records"].size() : 0;
  }

  fs::path tmp_;
  std::unique_ptr<Background> server_;
  int port_ = 0;
  std::string url_, token_;
};

// The table row whose first cell is `key`, split on runs of 2+ spaces.
std::vector<std::string> Row(const std::string& table, const std::string& key) {
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key + " ", 0) != 0) continue;
    std::vector<std::string> cells;
    std::regex sep("  +");
    for (std::sregex_token_iterator it(line.begin(), line.end(), sep, -1), end; it != end; ++it)
      cells.push_back(*it);
    return cells;
  }
  return {};
}

// The column where `header` starts in the header line equals where the cell
// starts in each data line: the table is aligned.
void ExpectAligned(const std::string& table, const std::string& header) {
  std::istringstream in(table);
  std::string head;
  std::getline(in, head);
  size_t col = head.find(header);
  ASSERT_NE(col, std::string::npos) << table;
  for (std::string line; std::getline(in, line) && !line.empty();) {
    ASSERT_GT(line.size(), col) << table;
    EXPECT_EQ(line[col - 1], ' ') << "misaligned:\n" << table;
    EXPECT_NE(line[col], ' ') << "misaligned:\n" << table;
  }
}

std::vector<std::string> Names(const json& items, const char* field = "name") {
  std::vector<std::string> v;
  for (const auto& i : items) v.push_back(i.value(field, ""));
  return v;
}

TEST_F(CliTest, HelpListsEveryAdminCommand) {
  Output o = RunKeycast({"admin", "--help"});
  ASSERT_EQ(o.code, 0) << o;
  for (const char* cmd :
       {"client", "group", "edge", "event", "member", "assign", "token", "audit", "keys", "--addr",
        "--token", "--ca-file", "--json", "KEYCAST_TOKEN", "Exit codes"})
    EXPECT_NE(o.out.find(cmd), std::string::npos) << cmd << " missing from\n" << o.out;
  Output e = RunKeycast({"admin", "event", "create", "--help"});
  ASSERT_EQ(e.code, 0) << e;
  for (const char* opt :
       {"--title", "--group-address", "--port", "--start", "--duration", "--rrule", "--interval",
        "--initial-keying", "--clear-intervals", "--key-server", "--sender", "--source-address",
        "--algorithm", "--delivery", "--source-auth", "--assign"})
    EXPECT_NE(e.out.find(opt), std::string::npos) << opt << " missing from\n" << e.out;
}

TEST_F(CliTest, FullAdminSession) {
  StartServer();
  // Groups: acme -> engineering -> platform.
  EXPECT_EQ(Ok({"group", "create", "acme", "--description", "the company"}),
            "Created group acme.\n");
  Ok({"group", "create", "engineering", "--parent", "acme"});
  Ok({"group", "create", "platform"});
  EXPECT_EQ(Ok({"edge", "add", "engineering", "platform"}),
            "Added edge engineering -> platform.\n");
  std::string edges = Ok({"edge", "list"});
  EXPECT_EQ(Row(edges, "acme"), (std::vector<std::string>{"acme", "engineering"})) << edges;
  EXPECT_EQ(Row(edges, "engineering"), (std::vector<std::string>{"engineering", "platform"}))
      << edges;

  // Clients: a password from stdin, a description, one disabled.
  Ok({"client", "create", "alice", "--password-stdin"}, "alice-test-password\n");
  Ok({"client", "create", "studio", "--description", "the sender", "--password",
      "studio-test-password"});
  EXPECT_EQ(Ok({"client", "create", "robot", "--disabled"}), "Created client robot (disabled).\n");

  // An event with a recurring schedule, assigned at creation.
  std::string created = Ok({"event",
                            "create",
                            "town-hall",
                            "--title",
                            "Town hall",
                            "--group-address",
                            "239.1.0.1",
                            "--port",
                            "5004",
                            "--start",
                            "2030-01-07T09:00:00Z",
                            "--duration",
                            "PT1H",
                            "--rrule",
                            "FREQ=WEEKLY;BYDAY=MO",
                            "--interval",
                            "PT30S",
                            "--clear-intervals",
                            "1",
                            "--sender",
                            "studio",
                            "--assign",
                            "acme"});
  EXPECT_EQ(created, "Created event town-hall.\nAssigned event town-hall to group acme.\n");
  Ok({"event", "create", "standup", "--title", "Stand-up", "--group-address", "ff3e::1:2", "--port",
      "6000", "--start", "1893456000", "--duration", "900", "--algorithm", "chacha20-poly1305"});
  Ok({"assign", "add", "standup", "platform"});

  // Memberships.
  Ok({"member", "add", "alice", "platform"});
  EXPECT_EQ(Ok({"member", "add", "studio", "acme", "--role", "sender"}),
            "Added studio to group acme as sender.\n");

  // Lists and shows, as tables.
  std::string groups = Ok({"group", "list"});
  ExpectAligned(groups, "PARENTS");
  ExpectAligned(groups, "MEMBERS");
  auto eng = Row(groups, "engineering");
  ASSERT_GE(eng.size(), 5u) << groups;
  EXPECT_EQ(eng[1], "acme");
  EXPECT_EQ(eng[2], "platform");
  std::string clients = Ok({"client", "list"});
  ExpectAligned(clients, "ENABLED");
  ExpectAligned(clients, "GROUPS");
  EXPECT_EQ(Row(clients, "robot").at(1), "no") << clients;
  EXPECT_EQ(Row(clients, "alice").at(3), "platform (receiver)") << clients;
  std::string show = Ok({"event", "show", "town-hall"});
  EXPECT_NE(show.find("Repeats:          FREQ=WEEKLY;BYDAY=MO\n"), std::string::npos) << show;
  EXPECT_NE(show.find("Key interval:     30 s\n"), std::string::npos) << show;
  EXPECT_NE(show.find("Group address:    239.1.0.1:5004\n"), std::string::npos) << show;
  std::string events = Ok({"event", "list"});
  ExpectAligned(events, "ADDRESS");
  EXPECT_EQ(Row(events, "standup").at(1), "[ff3e::1:2]:6000") << events;
  std::string members = Ok({"member", "list", "--group", "platform"});
  EXPECT_EQ(Row(members, "alice"), (std::vector<std::string>{"alice", "platform", "receiver"}))
      << members;

  // The same as JSON, with --json before or after the command.
  json g = Json({"group", "show", "engineering"});
  EXPECT_EQ(g["parents"], json::array({"acme"}));
  EXPECT_EQ(g["children"], json::array({"platform"}));
  Output before = RunKeycast({"admin", "--json", "group", "list"}, AdminEnv());
  ASSERT_EQ(before.code, 0) << before;
  EXPECT_EQ(Names(json::parse(before.out)["groups"]),
            (std::vector<std::string>{"acme", "engineering", "platform"}));
  json e = Json({"event", "show", "town-hall"});
  EXPECT_EQ(e["schedule"]["rrule"], "FREQ=WEEKLY;BYDAY=MO");
  EXPECT_EQ(e["schedule"]["start"], "2030-01-07T09:00:00Z");
  EXPECT_EQ(e["interval_seconds"], 30);
  EXPECT_EQ(e["clear_intervals"], 1);
  EXPECT_EQ(e["sender"], "studio");
  EXPECT_EQ(e["groups"], json::array({"acme"}));
  EXPECT_EQ(Json({"event", "show", "standup"})["algorithm"], "chacha20-poly1305");
  // Source authentication: off by default; on / off switch it; anything else is refused.
  EXPECT_EQ(Json({"event", "show", "standup"})["source_auth"], false);
  Ok({"event", "update", "standup", "--source-auth", "on"});
  EXPECT_EQ(Json({"event", "show", "standup"})["source_auth"], true);
  EXPECT_NE(Ok({"event", "show", "standup"}).find("Source auth:      on"), std::string::npos);
  Output bad =
      RunKeycast({"admin", "event", "update", "standup", "--source-auth", "maybe"}, AdminEnv());
  EXPECT_NE(bad.code, 0) << bad;
  EXPECT_NE(bad.err.find("--source-auth takes on or off"), std::string::npos) << bad;
  Ok({"event", "update", "standup", "--source-auth", "off"});
  EXPECT_EQ(Json({"event", "show", "standup"})["source_auth"], false);
  // alice is in platform: standup directly, town-hall over platform -> engineering -> acme.
  json ae = Json({"client", "events", "alice"});
  std::map<std::string, std::string> roles;
  for (const auto& x : ae["events"]) roles[x["name"]] = x["role"];
  EXPECT_EQ(roles, (std::map<std::string, std::string>{{"standup", "receiver"},
                                                       {"town-hall", "receiver"}}));
  EXPECT_EQ(Json({"member", "list", "--client", "studio"})["memberships"].size(), 1u);
  EXPECT_EQ(Json({"assign", "list", "--event", "town-hall"})["assignments"],
            json::parse(R"([{"event":"town-hall","group":"acme"}])"));

  // Updates. Changing only the duration keeps the rest of the schedule.
  Ok({"event", "update", "town-hall", "--duration", "PT2H", "--title", "Town hall (long)"});
  e = Json({"event", "show", "town-hall"});
  EXPECT_EQ(e["schedule"]["duration"], "PT2H");
  EXPECT_EQ(e["schedule"]["rrule"], "FREQ=WEEKLY;BYDAY=MO");
  EXPECT_EQ(e["schedule"]["start"], "2030-01-07T09:00:00Z");
  EXPECT_EQ(e["title"], "Town hall (long)");
  Ok({"event", "update", "town-hall", "--rrule", ""});
  EXPECT_EQ(Json({"event", "show", "town-hall"})["schedule"]["rrule"], "");
  Ok({"client", "update", "robot", "--enable", "--description", "a robot"});
  json robot = Json({"client", "show", "robot"});
  EXPECT_EQ(robot["enabled"], true);
  EXPECT_EQ(robot["description"], "a robot");
  Ok({"client", "update", "alice", "--remove-password"});
  EXPECT_EQ(Json({"client", "show", "alice"})["password_set"], false);
  Ok({"group", "update", "platform", "--rename", "platform-team"});
  EXPECT_EQ(Json({"member", "list", "--client", "alice"})["memberships"][0]["group"],
            "platform-team");
  EXPECT_EQ(Ok({"member", "set-role", "alice", "platform-team", "sender"}),
            "alice is now a sender in group platform-team.\n");
  EXPECT_EQ(Json({"client", "events", "alice"})["events"][0]["role"], "sender");
  EXPECT_EQ(Admin({"client", "update", "alice"}).code, 2);  // nothing to change

  // API keys and admin tokens: the secret once on stdout, a warning on stderr.
  Output key = Admin({"client", "api-key", "create", "studio", "--description", "encoder"});
  ASSERT_EQ(key.code, 0) << key;
  EXPECT_EQ(key.out.rfind("kca_", 0), 0u) << key;
  EXPECT_NE(key.err.find("shown only this once"), std::string::npos) << key;
  json keys = Json({"client", "api-key", "list", "studio"});
  ASSERT_EQ(keys["api_keys"].size(), 1u);
  std::string key_id = keys["api_keys"][0]["id"];
  EXPECT_EQ(key.out.find(key_id), 4u) << "the key embeds its id";
  Ok({"client", "api-key", "revoke", "studio", key_id});
  EXPECT_EQ(Json({"client", "api-key", "list", "studio"})["api_keys"][0]["revoked"], true);
  Output tok = Admin({"token", "create", "--description", "ci"});
  ASSERT_EQ(tok.code, 0) << tok;
  std::string new_token = FindToken(tok.out);
  ASSERT_FALSE(new_token.empty()) << tok;
  Output with_new =
      RunKeycast({"admin", "--token", new_token, "group", "list"}, {{"KEYCAST_ADDR", url_}});
  EXPECT_EQ(with_new.code, 0) << with_new;
  json toks = Json({"token", "list"});
  ASSERT_EQ(toks["admin_tokens"].size(), 2u);
  std::string new_id = toks["admin_tokens"][1]["description"] == "ci"
                           ? toks["admin_tokens"][1]["id"]
                           : toks["admin_tokens"][0]["id"];
  Ok({"token", "revoke", new_id});
  EXPECT_EQ(
      RunKeycast({"admin", "--token", new_token, "group", "list"}, {{"KEYCAST_ADDR", url_}}).code,
      3);

  // Service keys.
  std::string klist = Ok({"keys", "list"});
  EXPECT_EQ(Row(klist, "ticket-signing").at(2), "active") << klist;
  EXPECT_EQ(Ok({"keys", "rotate", "ticket-signing"}),
            "Rotated ticket-signing: version 2 is active.\n");
  std::map<int, std::string> versions;
  json published = Json({"keys", "list"});
  for (const auto& k : published["keys"])
    if (k["kind"] == "ticket-signing")
      versions[k["version"]] = k["retired_at"] == 0 ? "active" : "retired";
  EXPECT_EQ(versions, (std::map<int, std::string>{{1, "retired"}, {2, "active"}}));

  // Deletes.
  EXPECT_EQ(Ok({"assign", "remove", "town-hall", "acme"}),
            "Unassigned event town-hall from group acme.\n");
  Ok({"member", "remove", "alice", "platform-team"});
  Ok({"edge", "remove", "engineering", "platform-team"});
  EXPECT_EQ(Ok({"event", "delete", "town-hall"}), "Deleted event town-hall.\n");
  Ok({"client", "delete", "robot"});
  Ok({"group", "delete", "platform-team"});
  Output gone = Admin({"event", "show", "town-hall"});
  EXPECT_EQ(gone.code, 4) << gone;
  EXPECT_NE(gone.err.find("not_found"), std::string::npos) << gone;
  EXPECT_EQ(Admin({"client", "show", "robot"}).code, 4);
  EXPECT_EQ(Names(Json({"group", "list"})["groups"]),
            (std::vector<std::string>{"acme", "engineering"}));
  EXPECT_TRUE(Json({"edge", "list"})["edges"].size() == 1u);
  EXPECT_EQ(Ok({"member", "list", "--group", "engineering"}), "No memberships.\n");

  // Every change is in the audit log, in order.
  json audit = Json({"audit", "--limit", "1000"});
  std::vector<std::string> actions;
  for (const auto& r : audit["records"]) actions.push_back(r["action"]);
  for (const char* a :
       {"group.create", "edge.create", "client.create", "event.create", "membership.create",
        "assignment.create", "event.delete", "service_key.rotate"})
    EXPECT_NE(std::find(actions.begin(), actions.end(), a), actions.end())
        << a << " not in " << audit.dump();
  std::string table = Ok({"audit", "--limit", "3"});
  EXPECT_EQ(table.rfind("SEQ", 0), 0u) << table;
  std::string third = std::to_string(audit["records"][2]["seq"].get<int64_t>());
  EXPECT_NE(table.find("More: keycast admin audit --after " + third), std::string::npos) << table;
  EXPECT_EQ(Row(table, third).at(3), audit["records"][2]["action"]) << table;
}

TEST_F(CliTest, CycleIsRefusedWithExitCode5AndNamed) {
  StartServer();
  for (const char* g : {"a", "b", "c"}) Ok({"group", "create", g});
  Ok({"edge", "add", "a", "b"});
  Ok({"edge", "add", "b", "c"});
  size_t audit = AuditCount();
  Output o = Admin({"edge", "add", "c", "a"});
  EXPECT_EQ(o.code, 5) << o;
  EXPECT_NE(o.err.find("failed_precondition: edge c -> a would close the cycle c -> a -> b -> c"),
            std::string::npos)
      << o;
  EXPECT_EQ(o.out, "");
  EXPECT_EQ(Json({"edge", "list"})["edges"].size(), 2u);
  EXPECT_EQ(AuditCount(), audit);
  // A self-loop too.
  EXPECT_EQ(Admin({"edge", "add", "b", "b"}).code, 5);
  // And an existing name is a conflict.
  Output dup = Admin({"group", "create", "a"});
  EXPECT_EQ(dup.code, 5) << dup;
  EXPECT_NE(dup.err.find("already_exists"), std::string::npos) << dup;
  EXPECT_EQ(AuditCount(), audit);
}

TEST_F(CliTest, BadInputExitsWithItsCodeAndWritesNothing) {
  StartServer();
  Ok({"group", "create", "g"});
  Ok({"client", "create", "alice"});
  size_t audit = AuditCount();
  // `event create ev` with good values, some replaced or added.
  auto with = [&](std::map<std::string, std::string> changes) {
    std::map<std::string, std::string> flags = {{"--title", "T"},
                                                {"--group-address", "239.1.1.1"},
                                                {"--port", "5004"},
                                                {"--start", "2030-01-01T10:00:00Z"},
                                                {"--duration", "PT1H"}};
    for (auto& [k, v] : changes) flags[k] = v;
    std::vector<std::string> a = {"event", "create", "ev"};
    for (auto& [k, v] : flags) {
      a.push_back(k);
      a.push_back(v);
    }
    return Admin(a);
  };
  Output bad_addr = with({{"--group-address", "239.1.1.999"}});
  EXPECT_EQ(bad_addr.code, 2) << bad_addr;
  EXPECT_NE(bad_addr.err.find("invalid_argument"), std::string::npos) << bad_addr;
  EXPECT_NE(bad_addr.err.find("group_address"), std::string::npos) << bad_addr;
  Output bad_rule = with({{"--rrule", "FREQ=SOMETIMES"}});
  EXPECT_EQ(bad_rule.code, 2) << bad_rule;
  EXPECT_NE(bad_rule.err.find("schedule.rrule"), std::string::npos) << bad_rule;
  Output bad_start = with({{"--start", "next tuesday"}});
  EXPECT_EQ(bad_start.code, 2) << bad_start;
  EXPECT_NE(bad_start.err.find("schedule.start"), std::string::npos) << bad_start;
  Output bad_port = with({{"--port", "http"}});
  EXPECT_EQ(bad_port.code, 2) << bad_port;
  Output missing = Admin({"event", "create", "ev", "--title", "T"});
  EXPECT_EQ(missing.code, 2) << missing;
  EXPECT_NE(missing.err.find("--group-address, --port, --start, --duration"), std::string::npos)
      << missing;
  Output no_group = with({{"--assign", "nosuch"}});
  EXPECT_EQ(no_group.code, 4) << no_group;
  EXPECT_NE(no_group.err.find("not_found: group 'nosuch' does not exist"), std::string::npos)
      << no_group;
  EXPECT_EQ(Admin({"event", "show", "ev"}).code, 4) << "the event must not be created";
  Output update = Admin({"event", "update", "nosuch", "--assign", "g"});
  EXPECT_EQ(update.code, 4) << update;
  EXPECT_EQ(update.err, "keycast: not_found: event 'nosuch' does not exist\n") << update;
  Output member = Admin({"member", "add", "alice", "nosuch"});
  EXPECT_EQ(member.code, 4) << member;
  Output parent = Admin({"group", "create", "child", "--parent", "nosuch"});
  EXPECT_EQ(parent.code, 4) << parent;
  EXPECT_EQ(Admin({"group", "show", "child"}).code, 4);
  Output role = Admin({"member", "add", "alice", "g", "--role", "owner"});
  EXPECT_EQ(role.code, 2) << role;
  Output short_pw = Admin({"client", "create", "bob", "--password", "short"});
  EXPECT_EQ(short_pw.code, 2) << short_pw;
  Output two_pw =
      Admin({"client", "create", "bob", "--password", "long enough", "--password-stdin"}, "x\n");
  EXPECT_EQ(two_pw.code, 2) << two_pw;
  Output limit = Admin({"client", "list", "--limit", "0"});
  EXPECT_EQ(limit.code, 2) << limit;
  Output scheme = RunKeycast({"admin", "--addr", "ftp://127.0.0.1:1", "group", "list"},
                             {{"KEYCAST_TOKEN", token_}});
  EXPECT_EQ(scheme.code, 2) << scheme;
  EXPECT_EQ(AuditCount(), audit) << "a refused command wrote something";
  EXPECT_EQ(Json({"event", "list"})["events"].size(), 0u);
  EXPECT_EQ(Names(Json({"group", "list"})["groups"]), std::vector<std::string>{"g"});
}

TEST_F(CliTest, WrongTokenExits3AndIsNeverEchoed) {
  StartServer();
  std::string wrong = "kct_0011223344556677_" + std::string(64, 'a');
  Output o =
      RunKeycast({"admin", "group", "list"}, {{"KEYCAST_ADDR", url_}, {"KEYCAST_TOKEN", wrong}});
  EXPECT_EQ(o.code, 3) << o;
  EXPECT_NE(o.err.find("unauthenticated"), std::string::npos) << o;
  EXPECT_EQ(o.err.find(wrong), std::string::npos) << "the token was echoed";
  EXPECT_EQ(o.err.find("aaaaaaaa"), std::string::npos) << "the token was echoed";
  Output garbage =
      RunKeycast({"admin", "--token", "garbage", "--addr", url_, "client", "create", "x"});
  EXPECT_EQ(garbage.code, 3) << garbage;
  EXPECT_EQ(Admin({"client", "show", "x"}).code, 4) << "a refused request wrote something";
  Output none = RunKeycast({"admin", "group", "list"}, {{"KEYCAST_ADDR", url_}});
  EXPECT_EQ(none.code, 2) << none;
  EXPECT_NE(none.err.find("KEYCAST_TOKEN"), std::string::npos) << none;
  Output down = RunKeycast({"admin", "group", "list"},
                           {{"KEYCAST_ADDR", "http://127.0.0.1:" + std::to_string(FreePort())},
                            {"KEYCAST_TOKEN", token_}});
  EXPECT_EQ(down.code, 1) << down;
  EXPECT_NE(down.err.find("cannot reach"), std::string::npos) << down;
  EXPECT_EQ(down.err.find(token_), std::string::npos);
  // The help never shows the token from the environment.
  Output help = RunKeycast({"admin", "--help"}, AdminEnv());
  EXPECT_EQ(help.out.find(token_), std::string::npos);
  EXPECT_EQ(help.err.find(token_), std::string::npos);
}

TEST_F(CliTest, ClientLoginAndEventsAgainstTheSameServer) {
  StartServer();
  Ok({"group", "create", "acme"});
  Ok({"group", "create", "sales", "--parent", "acme"});
  Ok({"client", "create", "bob", "--password-stdin"}, "bob-test-password\n");
  Ok({"member", "add", "bob", "sales"});
  Ok({"event", "create", "feed", "--title", "Market feed", "--group-address", "239.2.0.1", "--port",
      "7000", "--start", "2030-03-01T00:00:00Z", "--duration", "P1D", "--rrule", "FREQ=DAILY",
      "--assign", "acme"});
  Ok({"event", "create", "other", "--title", "Not for bob", "--group-address", "239.2.0.2",
      "--port", "7000", "--start", "2030-03-01T00:00:00Z", "--duration", "PT1H"});
  Env env = {{"KEYCAST_SESSION", (tmp_ / "session.json").string()}, {"HOME", tmp_.string()}};
  Output login =
      RunKeycast({"client", "login", "--addr", url_, "--client", "bob", "--password-stdin"}, env,
                 "bob-test-password\n");
  ASSERT_EQ(login.code, 0) << login;
  EXPECT_NE(login.out.find("Logged in as bob: 1 event"), std::string::npos) << login;
  Output events = RunKeycast({"client", "events", "--json"}, env);
  ASSERT_EQ(events.code, 0) << events;
  json t = json::parse(events.out, nullptr, false);
  ASSERT_TRUE(t.is_object()) << events;
  EXPECT_EQ(t["client"], "bob");
  ASSERT_EQ(t["events"].size(), 1u) << t.dump(2);
  EXPECT_EQ(t["events"][0]["name"], "feed");
  EXPECT_EQ(t["events"][0]["role"], "receiver");
  EXPECT_EQ(t["events"][0]["schedule"]["rrule"], "FREQ=DAILY");
  EXPECT_EQ(t["events"][0]["group_address"], "239.2.0.1");
  // An API key from `admin client api-key create` logs in too.
  Output key = Admin({"client", "api-key", "create", "bob"});
  ASSERT_EQ(key.code, 0) << key;
  std::string api_key = key.out.substr(0, key.out.find('\n'));
  Output by_key = RunKeycast({"client", "login", "--addr", url_, "--api-key", api_key}, env);
  EXPECT_EQ(by_key.code, 0) << by_key;
  // A wrong password is refused with the auth exit code.
  Output bad = RunKeycast(
      {"client", "login", "--addr", url_, "--client", "bob", "--password", "wrong-password"}, env);
  EXPECT_EQ(bad.code, 3) << bad;
  // Disabled: no more tickets.
  Ok({"client", "update", "bob", "--disable"});
  EXPECT_EQ(RunKeycast({"client", "login", "--addr", url_, "--api-key", api_key}, env).code, 3);
}

TEST_F(CliTest, EventRekey) {
  StartServer();
  Ok({"event", "create", "ev", "--title", "T", "--group-address", "239.3.0.1", "--port", "5004",
      "--start", "2030-01-01T10:00:00Z", "--duration", "PT1H"});
  // No members: rekeyed all the same (members who join get the new keys).
  EXPECT_EQ(Ok({"event", "rekey", "ev"}),
            "Rekey of event ev: generation 2, 0 member(s), 0 wake-up(s) sent.\n");
  json r = Json({"event", "rekey", "ev"});
  EXPECT_EQ(r["event"], "ev");
  EXPECT_EQ(r["generation"], 3);
  EXPECT_EQ(r["members"], 0);
  EXPECT_TRUE(r["note"].is_string()) << r.dump();
  EXPECT_TRUE(r["wakeups_sent"].is_number_integer()) << r.dump();
  Output none = Admin({"event", "rekey", "nosuch"});
  EXPECT_EQ(none.code, 4) << none;
  // A new event secret: the next secret version and generation.
  EXPECT_EQ(Ok({"event", "rotate-secret", "ev"}),
            "New secret for event ev: secret version 2, generation 4, 0 wake-up(s) sent.\n");
  EXPECT_EQ(Admin({"event", "rotate-secret", "nosuch"}).code, 4);
}

TEST_F(CliTest, ServerConfigPrecedenceFlagOverEnvOverFile) {
  fs::path data = tmp_ / "data";
  Init(data);
  // The key service gets a port of its own too: with key_addr ":0" the
  // kernel may hand it the port just chosen for b or c.
  int a = FreePort(), b = FreePort(), c = FreePort(), k = FreePort();
  ASSERT_TRUE(a != b && b != c && a != c && k != a && k != b && k != c);
  fs::path conf = tmp_ / "keycast.toml";
  {
    std::ofstream f(conf);
    f << "# test config\n"
      << "data_dir = \"" << data.string() << "\"\n"
      << "http_addr = \"127.0.0.1:" << a << "\"\n"
      << "key_addr = \"127.0.0.1:" << k << "\"\n";
  }
  auto addr = [](int p) { return "127.0.0.1:" + std::to_string(p); };
  {
    Background s({"server", "--config", conf.string()}, {}, tmp_, "file");
    EXPECT_TRUE(WaitHealthy(s, a)) << "the file's http_addr is not used:\n" << s.Stderr();
    s.Stop();
  }
  {
    Background s({"server", "--config", conf.string()}, {{"KEYCAST_HTTP_ADDR", addr(b)}}, tmp_,
                 "env");
    EXPECT_TRUE(WaitHealthy(s, b)) << "the environment does not beat the file:\n" << s.Stderr();
    EXPECT_EQ(Health(a), 0);
    s.Stop();
  }
  {
    Background s({"server", "--config", conf.string(), "--http-addr", addr(c)},
                 {{"KEYCAST_HTTP_ADDR", addr(b)}}, tmp_, "flag");
    EXPECT_TRUE(WaitHealthy(s, c)) << "the flag does not beat the environment:\n" << s.Stderr();
    EXPECT_EQ(Health(a), 0);
    EXPECT_EQ(Health(b), 0);
    s.Stop();
  }
  // KEYCAST_CONFIG names the file as well.
  {
    Background s({"server"}, {{"KEYCAST_CONFIG", conf.string()}}, tmp_, "envfile");
    EXPECT_TRUE(WaitHealthy(s, a)) << s.Stderr();
    s.Stop();
  }
  // An unknown key is refused, naming its line.
  fs::path bad = tmp_ / "bad.toml";
  {
    std::ofstream f(bad);
    f << "http_addr = \"127.0.0.1:" << a << "\"\n"
      << "\n"
      << "htp_threads = 4\n";
  }
  Output o = RunKeycast({"server", "--config", bad.string(), "--data-dir", data.string()});
  EXPECT_EQ(o.code, 2) << o;
  EXPECT_NE(o.err.find(bad.string() + ":3"), std::string::npos) << o;
  EXPECT_NE(o.err.find("htp_threads"), std::string::npos) << o;
  EXPECT_EQ(Health(a), 0);
}

TEST_F(CliTest, InitRefusesASecondTime) {
  fs::path data = tmp_ / "data";
  std::string first = Init(data);
  ASSERT_EQ(first.rfind("kct_", 0), 0u);
  EXPECT_TRUE(fs::exists(data / "kek"));
  Output again = RunKeycast({"init", "--data-dir", data.string()});
  EXPECT_EQ(again.code, 5) << again;
  EXPECT_NE(again.err.find("already has admin tokens"), std::string::npos) << again;
  EXPECT_EQ(FindToken(again.out), "") << "a second token was printed";
}

TEST_F(CliTest, DevPrintsTheAdminTokenAndUrls) {
  int port = FreePort();
  Background dev({"dev", "--no-demo", "--data-dir", (tmp_ / "dev").string(), "--http-addr",
                  "127.0.0.1:" + std::to_string(port), "--key-addr", "127.0.0.1:0"},
                 {}, tmp_, "dev");
  std::string out, token, health;
  auto deadline = Clock::now() + kStartTimeout;
  std::smatch m;
  while (Clock::now() < deadline && dev.Running()) {
    out = dev.Stdout();
    std::regex token_line(R"(Admin token +(kct_[A-Za-z0-9_]+))"),
        health_line(R"(Health +(http://\S+)/v1/health)");
    if (std::regex_search(out, m, token_line)) {
      token = m[1];
      if (std::regex_search(out, m, health_line)) health = m[1];
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(token.empty()) << "no token line in\n" << out << "\n--- stderr\n" << dev.Stderr();
  ASSERT_EQ(health, "http://127.0.0.1:" + std::to_string(port)) << out;
  EXPECT_EQ(HealthAt(health), 200);
  EXPECT_NE(out.find("export KEYCAST_ADDR=" + health + " KEYCAST_TOKEN=" + token),
            std::string::npos)
      << out;
  // The printed token works, and --no-demo left the directory empty.
  Output groups =
      RunKeycast({"admin", "group", "list"}, {{"KEYCAST_ADDR", health}, {"KEYCAST_TOKEN", token}});
  EXPECT_EQ(groups.code, 0) << groups;
  EXPECT_EQ(groups.out, "No groups.\n");
  pid_t pid = dev.pid();
  EXPECT_EQ(dev.Stop(), 0) << dev.Stderr();
  EXPECT_NE(kill(pid, 0), 0) << "dev still running";
  EXPECT_EQ(HealthAt(health), 0);
}

}  // namespace
}  // namespace keycast
