// Test helper: runs a program as a child process with its output in files,
// and stops it by PID. Used by tests that exercise the real `keycast`
// binary (crash tests, CLI tests).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace keycast::testing {

class ChildProcess {
 public:
  // Starts argv[0] with argv; stdout and stderr go to files in `dir`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& dir,
               const std::string& tag);
  ~ChildProcess();  // SIGKILL + reap if still running

  pid_t pid() const { return pid_; }
  bool running();
  // Sends sig and waits up to timeout_ms for the exit; returns the wait status or -1.
  int Stop(int sig = SIGTERM, int timeout_ms = 10000);
  std::string out() const;  // stdout so far
  std::string err() const;  // stderr so far

 private:
  pid_t pid_ = -1;
  std::string out_path_, err_path_;
};

// Runs a program to completion; returns its exit code and stdout.
int RunCommand(const std::vector<std::string>& argv, std::string* out, std::string* err = nullptr,
               const std::string& stdin_text = "");

// A TCP/UDP port that was free a moment ago on 127.0.0.1.
int FreePort();

// The keycast binary under test (env KEYCAST_BIN), or "" if missing.
std::string KeycastBinary();

// Polls url (http://host:port/path) until it answers 200 or timeout_ms passes.
bool WaitForHttp(const std::string& host, int port, const std::string& path, int timeout_ms);

// A fresh empty directory under the test temp dir.
std::string MakeTempDir(const std::string& tag);

}  // namespace keycast::testing
