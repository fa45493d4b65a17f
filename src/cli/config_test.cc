// The TOML config files through CLI11's config-file support: tables prefix
// keys, unknown keys are refused with file:line, a flag beats the
// environment which beats the file, lists, flags, the size bound, and the
// variable naming the file.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "cli/commands.h"

namespace keycast::cli {
namespace {

struct Command {
  CLI::App root{"keycast"};
  CLI::App* server = nullptr;
  std::string http_addr = "default", tls_cert, roles;
  int threads = 0;
  bool insecure = false;
  std::vector<std::string> send;

  Command() {
    EnableConfigFiles(root);
    server = root.add_subcommand("server", "a node");
    server->add_option("--http-addr", http_addr)->envname("KC_CONFIG_TEST_HTTP_ADDR");
    server->add_option("--http-threads", threads);
    server->add_option("--tls-cert", tls_cert);
    server->add_option("--roles", roles);
    server->add_option("--send", send);
    server->add_flag("--allow-insecure-http", insecure);
    UseConfigFile(root, server, "KC_CONFIG_TEST_FILE");
    root.add_subcommand("admin", "not configurable");
  }
  // Parses; returns the error message or "".
  std::string Parse(std::vector<std::string> args) {
    std::vector<const char*> argv = {"keycast"};
    for (auto& a : args) argv.push_back(a.c_str());
    try {
      root.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::Error& e) {
      return e.what();
    }
    return "";
  }
};

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/config_test_" + std::to_string(::getpid()) + ".toml";
  }
  void TearDown() override {
    ::unlink(path_.c_str());
    ::unsetenv("KC_CONFIG_TEST_HTTP_ADDR");
    ::unsetenv("KC_CONFIG_TEST_FILE");
  }
  void Write(const std::string& text) {
    std::ofstream f(path_, std::ios::trunc);
    f << text;
  }
  std::string path_;
};

TEST_F(ConfigTest, KeysTablesListsAndFlags) {
  Write(
      "# comment\n"
      "http_addr = \"0.0.0.0:8200\"\n"
      "http-threads = 4\n"
      "allow_insecure_http = true\n"
      "roles = [\"directory\", \"ticket\"]\n"
      "send = [\"a=1.2.3.4:5\", \"b=1.2.3.4:6\"]\n"
      "[tls]\n"
      "cert = \"/etc/keycast/cert.pem\"\n");
  Command c;
  ASSERT_EQ(c.Parse({"server", "--config", path_}), "");
  EXPECT_EQ(c.http_addr, "0.0.0.0:8200");
  EXPECT_EQ(c.threads, 4);
  EXPECT_TRUE(c.insecure);
  EXPECT_EQ(c.roles, "directory,ticket");  // one value: joined
  EXPECT_EQ(c.send, (std::vector<std::string>{"a=1.2.3.4:5", "b=1.2.3.4:6"}));
  EXPECT_EQ(c.tls_cert, "/etc/keycast/cert.pem");  // [tls] cert -> --tls-cert
}

TEST_F(ConfigTest, FlagBeatsEnvironmentBeatsFile) {
  Write("http_addr = \"file:1\"\n");
  {
    Command c;
    ASSERT_EQ(c.Parse({"server", "--config", path_}), "");
    EXPECT_EQ(c.http_addr, "file:1");
  }
  ::setenv("KC_CONFIG_TEST_HTTP_ADDR", "env:2", 1);
  {
    Command c;
    ASSERT_EQ(c.Parse({"server", "--config", path_}), "");
    EXPECT_EQ(c.http_addr, "env:2");
  }
  {
    Command c;
    ASSERT_EQ(c.Parse({"server", "--config", path_, "--http-addr", "flag:3"}), "");
    EXPECT_EQ(c.http_addr, "flag:3");
  }
  {
    Command c;  // --config before the subcommand works too
    ASSERT_EQ(c.Parse({"--config", path_, "server", "--http-addr", "flag:4"}), "");
    EXPECT_EQ(c.http_addr, "flag:4");
  }
}

TEST_F(ConfigTest, TheVariableNamesTheFile) {
  Write("http_addr = \"from-env-file\"\n");
  ::setenv("KC_CONFIG_TEST_FILE", path_.c_str(), 1);
  {
    Command c;
    ASSERT_EQ(c.Parse({"server"}), "");
    EXPECT_EQ(c.http_addr, "from-env-file");
  }
  // A file named by the variable must exist.
  ::setenv("KC_CONFIG_TEST_FILE", "/nonexistent/keycast.toml", 1);
  Command c;
  EXPECT_NE(c.Parse({"server"}).find("/nonexistent/keycast.toml"), std::string::npos);
}

TEST_F(ConfigTest, UnknownKeysAreRefusedWithFileAndLine) {
  Write("http_addr = \"a:1\"\n\nhtp_threads = 4\n");
  Command c;
  std::string err = c.Parse({"server", "--config", path_});
  EXPECT_NE(err.find(path_ + ":3"), std::string::npos) << err;
  EXPECT_NE(err.find("htp_threads"), std::string::npos) << err;
  Write("[tls]\nkey_file = \"x\"\n");
  Command c2;
  err = c2.Parse({"server", "--config", path_});
  EXPECT_NE(err.find(path_ + ":2"), std::string::npos) << err;
  EXPECT_NE(err.find("tls-key_file"), std::string::npos) << err;
  // The file cannot name another file, nor apply to another command.
  Write("config = \"other.toml\"\n");
  Command c3;
  EXPECT_NE(c3.Parse({"server", "--config", path_}).find("unknown option 'config'"),
            std::string::npos);
  Write("http_addr = \"a:1\"\n");
  Command c4;
  EXPECT_NE(c4.Parse({"--config", path_, "admin"}).find("applies to"), std::string::npos);
}

TEST_F(ConfigTest, BadValuesAndSyntax) {
  Write("http_addr = \"a:1\"\nhttp_threads = \"many\"\n");
  Command c;
  EXPECT_NE(c.Parse({"server", "--config", path_}), "");
  Write("allow_insecure_http = \"yes\"\n");
  Command c2;
  EXPECT_NE(c2.Parse({"server", "--config", path_}).find("true or false"), std::string::npos);
  Write("http_addr = [1, 2]\n");
  Command c3;
  EXPECT_NE(c3.Parse({"server", "--config", path_}).find("list of strings"), std::string::npos);
  Write("http_addr = \"unterminated\n");
  Command c4;
  EXPECT_NE(c4.Parse({"server", "--config", path_}).find(path_ + ":1:"), std::string::npos);
}

TEST_F(ConfigTest, SizeBound) {
  CLI::App app{"t"};
  std::string v;
  app.add_option("--a", v);
  std::string big = "a = \"" + std::string(kMaxConfigBytes, 'x') + "\"\n";
  auto r = ParseConfigText(app, big, "big.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("larger than"), std::string::npos);
  Write(big);
  Command c;
  EXPECT_NE(c.Parse({"server", "--config", path_}).find("larger than"), std::string::npos);
}

}  // namespace
}  // namespace keycast::cli
