#include "keycast/agent/tun.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>

extern char** environ;

namespace keycast::agent {

namespace {

Status Errno(const std::string& what) { return Unavailable(what + ": " + std::strerror(errno)); }

// Runs a program (no shell) and waits for it; its output goes to ours.
Status Run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  if (rc != 0) return Unavailable("cannot run `" + cmd + "`: " + std::strerror(rc));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Unavailable("`" + cmd + "` failed");
  return Status::Ok();
}

std::vector<std::string> RouteArgs(const char* verb, const std::string& tun, const GroupRoute& r) {
  std::vector<std::string> args;
  const bool v6 = r.group.family == IpAddress::Family::kV6;
  if (v6)
    args = {"ip", "-6", "route", verb, r.group.ToString() + "/128", "dev", tun};
  else
    args = {"ip", "route", verb, r.group.ToString() + "/32", "dev", tun};
  if (!r.source.empty() && std::string(verb) != "del") {
    args.push_back("src");
    args.push_back(r.source.ToString());
  }
  if (v6) {
    // ff00::/8 sits in the local table per interface; a more specific route
    // must be there too to win.
    args.push_back("table");
    args.push_back("local");
  }
  return args;
}

}  // namespace

Result<std::unique_ptr<TunDevice>> TunDevice::Open(const std::string& name, int mtu) {
  if (name.empty() || name.size() >= IFNAMSIZ)
    return InvalidArgument("TUN name must be 1-15 characters");
  if (mtu < 1280 || mtu > 65535) return InvalidArgument("TUN MTU must be 1280-65535");
  Fd fd(::open("/dev/net/tun", O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Errno("open /dev/net/tun (transparent mode needs root or CAP_NET_ADMIN)");
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return Errno("creating TUN interface " + name);
  std::string actual = ifr.ifr_name;
  Fd ctl(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!ctl.valid()) return Errno("socket");
  ifreq req{};
  std::strncpy(req.ifr_name, actual.c_str(), IFNAMSIZ - 1);
  req.ifr_mtu = mtu;
  if (::ioctl(ctl.get(), SIOCSIFMTU, &req) != 0) return Errno("setting the MTU of " + actual);
  if (::ioctl(ctl.get(), SIOCGIFFLAGS, &req) != 0) return Errno("reading the flags of " + actual);
  req.ifr_flags = short(req.ifr_flags | IFF_UP | IFF_RUNNING | IFF_MULTICAST);
  if (::ioctl(ctl.get(), SIOCSIFFLAGS, &req) != 0) return Errno("bringing " + actual + " up");
  return std::unique_ptr<TunDevice>(new TunDevice(std::move(fd), actual));
}

TunDevice::~TunDevice() = default;

long TunDevice::Read(MutableByteView buffer, int timeout_ms) {
  pollfd p{fd_.get(), POLLIN, 0};
  int r = ::poll(&p, 1, timeout_ms);
  if (r <= 0) return r == 0 ? 0 : -1;
  ssize_t n = ::read(fd_.get(), buffer.data(), buffer.size());
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  return long(n);
}

bool TunDevice::Write(ByteView packet) {
  ssize_t n = ::write(fd_.get(), packet.data(), packet.size());
  return n == ssize_t(packet.size());
}

std::vector<std::string> RouteManager::Commands(const std::string& tun,
                                                const std::vector<GroupRoute>& routes) {
  std::vector<std::string> out;
  for (const GroupRoute& r : routes) {
    std::string cmd;
    for (const auto& a : RouteArgs("replace", tun, r)) cmd += (cmd.empty() ? "" : " ") + a;
    out.push_back(cmd);
  }
  out.push_back("sysctl -w net.ipv4.conf." + tun +
                ".rp_filter=0   # and net.ipv4.conf.all.rp_filter must not be 1");
  return out;
}

Status RouteManager::Add(const GroupRoute& route) {
  KC_RETURN_IF_ERROR(Run(RouteArgs("replace", tun_, route)));
  added_.push_back(route);
  spdlog::info("route {} via {}{} added", route.group.ToString(), tun_,
               route.source.empty() ? "" : " (source " + route.source.ToString() + ")");
  std::ofstream rp("/proc/sys/net/ipv4/conf/" + tun_ + "/rp_filter");
  rp << "0\n";
  if (!rp) return Unavailable("cannot turn off rp_filter on " + tun_);
  std::ifstream all("/proc/sys/net/ipv4/conf/all/rp_filter");
  int v = 0;
  if (all >> v && v == 1)
    spdlog::warn(
        "net.ipv4.conf.all.rp_filter is 1 (strict): packets delivered through {} may be dropped; "
        "set it to 0 or 2",
        tun_);
  return Status::Ok();
}

void RouteManager::Remove() {
  for (const GroupRoute& r : added_) {
    Status st = Run(RouteArgs("del", tun_, r));
    if (!st.ok()) spdlog::debug("{}", st.message());  // gone with the interface already
  }
  added_.clear();
}

}  // namespace keycast::agent
