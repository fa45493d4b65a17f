// Keeps the packet fuzzer's seed corpus meaningful: every seed runs through
// the fuzz driver, and the packet seeds open (so a format change that makes
// them stale fails here, not silently in the fuzzer).
//
// Regenerate the seeds with KEYCAST_WRITE_DATAPLANE_CORPUS=1 dataplane_test
// --gtest_filter=PacketFuzzCorpus.*
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "dataplane/fuzz_fixture.h"

namespace keycast::dataplane::fuzz {
namespace {

namespace fs = std::filesystem;

fs::path CorpusDir() {
  const char* src = std::getenv("KEYCAST_SOURCE_DIR");
  return fs::path(src ? src : ".") / "src/dataplane/corpus/packet_fuzz";
}

Bytes WithControl(uint8_t control, ByteView body) {
  Bytes b(1 + body.size());
  b[0] = control;
  std::copy(body.begin(), body.end(), b.begin() + 1);
  return b;
}

Bytes Protected(DataPlane& tx, size_t n, NextHeader nh = NextHeader::kUdpPayload) {
  Bytes payload(n);
  for (size_t i = 0; i < n; ++i) payload[i] = uint8_t(i * 13);
  Bytes out(DataPlane::kMaxPacketSize);
  ProtectResult r = tx.Protect(FlowFor(0), payload, out, kNow, nh);
  EXPECT_EQ(r.verdict, Verdict::kProtected);
  return Bytes(r.packet.begin(), r.packet.end());
}

// name -> input bytes.
std::map<std::string, Bytes> Seeds() {
  auto tx = NewSender();
  std::map<std::string, Bytes> s;
  s["protected_1400"] = WithControl(0x00, Protected(*tx, 1400));
  s["protected_empty"] = WithControl(0x00, Protected(*tx, 0));
  s["protected_ipv4_61"] = WithControl(0x00, Protected(*tx, 61, NextHeader::kIpv4Packet));
  Bytes clear(kClearHeaderSize + 100, 0x61);
  StoreBe32(clear.data(), 0);
  s["clear_100"] = WithControl(0x04, clear);
  s["bypass"] = WithControl(0x0c, AsBytes("not for us"));
  // sender 1, seq 5, "hello" + padding 1 + pad_length 1 + next header 1.
  Bytes sealed = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o', 1, 1, 1};
  s["sealed_plaintext"] = WithControl(0x01, sealed);
  s["sealed_twice"] = WithControl(0x03, sealed);
  s["replay_model"] =
      WithControl(0x02, Bytes{0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x04, 0x00, 0x01, 0x00, 0x00,
                              0x50, 0x05, 0x00, 0x40, 0x0c, 0x00, 0x03, 0x01, 0x00, 0x07});
  return s;
}

TEST(PacketFuzzCorpus, SeedsAreCurrent) {
  std::map<std::string, Bytes> seeds = Seeds();
  if (std::getenv("KEYCAST_WRITE_DATAPLANE_CORPUS")) {
    fs::create_directories(CorpusDir());
    for (const auto& [name, bytes] : seeds) {
      std::ofstream f(CorpusDir() / name, std::ios::binary);
      f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
    }
  }
  for (const auto& [name, bytes] : seeds) {
    std::ifstream f(CorpusDir() / name, std::ios::binary);
    ASSERT_TRUE(f) << "missing seed " << name << " in " << CorpusDir();
    Bytes stored((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(stored, bytes) << "stale seed " << name;
  }
}

TEST(PacketFuzzCorpus, SeedsReachTheirPaths) {
  const std::map<std::string, Verdict> want = {
      {"protected_1400", Verdict::kOpened},
      {"protected_empty", Verdict::kOpened},
      {"protected_ipv4_61", Verdict::kOpened},
      {"clear_100", Verdict::kClear},
      {"bypass", Verdict::kBypass},
      {"sealed_plaintext", Verdict::kOpened},
      {"sealed_twice", Verdict::kOpened},
      {"replay_model", Verdict::kDrop},
  };
  std::map<std::string, Bytes> seeds = Seeds();
  ASSERT_EQ(seeds.size(), want.size());
  for (const auto& [name, bytes] : seeds)
    EXPECT_EQ(RunInput(bytes.data(), bytes.size()), want.at(name)) << name;
}

}  // namespace
}  // namespace keycast::dataplane::fuzz
