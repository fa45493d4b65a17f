// Fuzzes the key service's parsers: requests, reply bodies and wakeups.
#include <cstddef>
#include <cstdint>

#include "keycast/key_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycast;
  ByteView in(data, size);
  auto p = keyproto::ParseRequest(in);
  if (p.ok()) {
    static const keyproto::SessionKeys kKeys =
        keyproto::SessionKeys::Derive(SecretBytes(Bytes(32, 1)), TicketId{});
    (void)keyproto::VerifyRequestTag(*p, kKeys);
  }
  (void)keyproto::DecodeReplyBody(in);
  (void)keyproto::ParseWakeup(in);
  (void)keyproto::PeekType(in);
  return 0;
}
