// libFuzzer target for the reservation platform's own formats. The first
// input byte picks the parser, the rest is its input:
//   0 AccessParameter (binary; must be canonical: Encode(Decode(b)) == b)
//   1 AgentConfig JSON (strict; a parsed config must round-trip)
//   2 receiver list text   3 HTML form body   4 Cookie header
//   5 money                6 card fields ("number|expiry|cvc")
// Nothing may crash; refusals are fine.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "keycast/reservation/billing.h"
#include "keycast/reservation/formats.h"

namespace keycast {
namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "reservation_fuzz: %s\n", what);
  std::abort();
}

}  // namespace
}  // namespace keycast

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycast;
  using namespace keycast::reservation;
  if (size == 0) return 0;
  ByteView in(data + 1, size - 1);
  std::string_view text = AsString(in);
  switch (data[0] % 7) {
    case 0: {
      auto p = DecodeAccessParameter(in);
      if (p.ok()) {
        auto e = EncodeAccessParameter(*p);
        if (!e.ok()) Fail("decoded access parameter does not encode");
        if (!(e->reveal().size() == in.size() && ConstantTimeEquals(e->reveal(), in)))
          Fail("access parameter encoding is not canonical");
      }
      break;
    }
    case 1: {
      auto c = ParseAgentConfig(text);
      if (c.ok()) {
        auto again = ParseAgentConfig(AgentConfigToJson(*c));
        if (!again.ok()) Fail("agent config does not round-trip");
        if (AgentConfigToJson(*again) != AgentConfigToJson(*c))
          Fail("agent config rendering is unstable");
        (void)AgentConfigToEnvFile(*c);
      }
      break;
    }
    case 2: {
      auto l = ParseReceiverList(text);
      if (l.ok())
        for (const auto& r : *l)
          if (!ValidateReceiverName(r.name).ok()) Fail("receiver list accepted a bad name");
      break;
    }
    case 3:
      (void)ParseForm(text);
      break;
    case 4:
      (void)ParseCookies(text);
      break;
    case 5: {
      auto m = ParseMoney(text);
      if (m.ok() && (*m < 0 || *m > kMaxPriceCents)) Fail("money out of range");
      break;
    }
    case 6: {
      size_t a = text.find('|');
      size_t b = a == std::string_view::npos ? a : text.find('|', a + 1);
      if (b == std::string_view::npos) break;
      auto c = ParseCard(text.substr(0, a), text.substr(a + 1, b - a - 1), text.substr(b + 1),
                         1893456000);
      if (c.ok() && !LuhnValid(c->number)) Fail("card accepted without a valid check digit");
      break;
    }
  }
  return 0;
}
