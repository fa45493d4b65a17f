// libFuzzer target for the inbound packet path: arbitrary bytes into
// DataPlane::Open with fixed installed SAs, plus sealed-but-arbitrary
// plaintexts (post-authentication parsing) and a replay-window model check.
// The input format is described in fuzz_fixture.h; seeds live in
// src/dataplane/corpus/packet_fuzz (kept valid by corpus_test.cc).
//
//   scripts/fuzz --seconds 60 packet_fuzz
#include <cstddef>
#include <cstdint>

#include "dataplane/fuzz_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)keycast::dataplane::fuzz::RunInput(data, size);
  return 0;
}
