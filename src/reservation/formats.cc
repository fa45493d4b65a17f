#include "keycast/reservation/formats.h"

#include <cctype>
#include <cstdio>

#include "api/json_reader.h"
#include "keycast/codec.h"
#include "keycast/directory.h"
#include "keycast/schedule.h"

namespace keycast::reservation {
namespace {

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> UrlDecode(std::string_view s, std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= s.size() || HexVal(s[i + 1]) < 0 || HexVal(s[i + 2]) < 0)
        return InvalidArgument("form field " + std::string(what) + ": malformed %-escape");
      out.push_back(static_cast<char>(HexVal(s[i + 1]) * 16 + HexVal(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

Status ValidateReservationName(std::string_view name) {
  KC_RETURN_IF_ERROR(ValidateName("transmission", name));
  if (name.size() > kMaxReservationName)
    return InvalidArgument("transmission name is longer than " +
                           std::to_string(kMaxReservationName) + " characters");
  return Status::Ok();
}

Status ValidateReceiverName(std::string_view name) {
  KC_RETURN_IF_ERROR(ValidateName("receiver", name));
  if (name.size() > kMaxReceiverName)
    return InvalidArgument("receiver name is longer than " + std::to_string(kMaxReceiverName) +
                           " characters");
  return Status::Ok();
}

Status ValidateReceiverPassword(std::string_view password) {
  if (password.size() < kMinReceiverPassword)
    return InvalidArgument("receiver passwords need at least " +
                           std::to_string(kMinReceiverPassword) + " characters");
  if (password.size() > kMaxReceiverPassword)
    return InvalidArgument("receiver passwords are at most " +
                           std::to_string(kMaxReceiverPassword) + " bytes");
  return Status::Ok();
}

Status ValidateIdempotencyKey(std::string_view key) {
  if (key.size() < kMinIdempotencyKey || key.size() > kMaxIdempotencyKey)
    return InvalidArgument("idempotency key must be " + std::to_string(kMinIdempotencyKey) + "-" +
                           std::to_string(kMaxIdempotencyKey) + " characters");
  for (char c : key)
    if (!IsKeyChar(c))
      return InvalidArgument("idempotency key may contain only A-Z, a-z, 0-9, '_' and '-'");
  return Status::Ok();
}

// ---- AccessParameter ----

Result<SecretBytes> EncodeAccessParameter(const AccessParameter& p) {
  if (!p.idempotency_key.empty()) KC_RETURN_IF_ERROR(ValidateIdempotencyKey(p.idempotency_key));
  if (p.password.size() > kMaxReceiverPassword) return InvalidArgument("password is too long");
  if (p.card_number.size() > 32) return InvalidArgument("card number is too long");
  if (p.card_expiry.size() > 7) return InvalidArgument("card expiry is too long (use MM/YY)");
  if (p.card_cvc.size() > 4) return InvalidArgument("card security code is too long");
  Bytes out;
  Writer w(&out);
  w.U8(kAccessParameterVersion);
  w.Opaque8(p.idempotency_key);
  w.Opaque16(p.password.reveal());
  w.Opaque8(p.card_number.reveal());
  w.Opaque8(p.card_expiry);
  w.Opaque8(p.card_cvc.reveal());
  SecretBytes s(out);
  SecureWipe(out.data(), out.size());
  return s;
}

Result<AccessParameter> DecodeAccessParameter(ByteView in) {
  Reader r(in);
  AccessParameter p;
  uint8_t version = 0;
  ByteView key, password, number, expiry, cvc;
  if (r.U8(&version, "version") && version != kAccessParameterVersion)
    r.Fail("unsupported access parameter version " + std::to_string(version));
  r.Opaque8(&key, "idempotency_key", kMaxIdempotencyKey);
  r.Opaque16(&password, "password", kMaxReceiverPassword);
  r.Opaque8(&number, "card_number", 32);
  r.Opaque8(&expiry, "card_expiry", 7);
  r.Opaque8(&cvc, "card_cvc", 4);
  r.Finish();
  if (!r.ok()) return InvalidArgument("access parameter: " + r.error());
  p.idempotency_key = std::string(AsString(key));
  if (!p.idempotency_key.empty()) KC_RETURN_IF_ERROR(ValidateIdempotencyKey(p.idempotency_key));
  p.password = SecretBytes(password);
  p.card_number = SecretBytes(number);
  p.card_expiry = std::string(AsString(expiry));
  p.card_cvc = SecretBytes(cvc);
  return p;
}

// ---- AgentConfig ----

std::string AgentConfigToJson(const AgentConfig& c) {
  api::json j = {{"version", kAgentConfigVersion},
                 {"transmission", c.transmission},
                 {"title", c.title},
                 {"receiver", c.receiver},
                 {"mode", c.mode},
                 {"group", c.group.ToString()},
                 {"port", c.port},
                 {"start", FormatRfc3339(c.start)},
                 {"duration", c.duration},
                 {"rrule", c.rrule},
                 {"charged_cents", c.charged_cents},
                 {"currency", c.currency}};
  if (!c.source.empty()) j["source"] = c.source.ToString();
  if (c.mode == "keycast") {
    j["addr"] = c.addr;
    j["client"] = c.client;
    j["api_key"] = c.api_key;
    j["event"] = c.event;
  } else {
    j["spi"] = c.spi;
    j["algorithm"] = std::string(crypto::AeadName(c.algorithm));
    j["key"] = ToHex(c.sa_key);
  }
  std::string s = j.dump();
  // The JSON object held copies of secrets.
  if (j.contains("api_key")) {
    auto& k = j["api_key"].get_ref<std::string&>();
    SecureWipe(k.data(), k.size());
  }
  if (j.contains("key")) {
    auto& k = j["key"].get_ref<std::string&>();
    SecureWipe(k.data(), k.size());
  }
  return s;
}

Result<AgentConfig> ParseAgentConfig(std::string_view text) {
  if (text.size() > 3072) return InvalidArgument("agent configuration is larger than 3072 bytes");
  KC_ASSIGN_OR_RETURN(api::json j, api::ParseObject(std::string(text)));
  api::ObjectReader r(j);
  AgentConfig c;
  auto version = r.Int("version", 1, 1000, true);
  if (version && *version != kAgentConfigVersion)
    r.Fail("version", "unsupported agent configuration version");
  c.transmission = r.Str("transmission", kMaxReservationName, true).value_or("");
  c.title = r.Str("title", 200, true).value_or("");
  c.receiver = r.Str("receiver", kMaxReceiverName, true).value_or("");
  c.mode = r.Str("mode", 16, true).value_or("");
  if (c.mode != "keycast" && c.mode != "static") r.Fail("mode", "expected keycast or static");
  if (auto g = r.Str("group", 64, true)) {
    auto a = IpAddress::Parse(*g);
    if (!a || !a->IsMulticast())
      r.Fail("group", "not a multicast address");
    else
      c.group = *a;
  }
  c.port = static_cast<uint16_t>(r.Int("port", 1, 65535, true).value_or(0));
  if (auto s = r.Str("source", 64, false)) {
    auto a = IpAddress::Parse(*s);
    if (!a)
      r.Fail("source", "not an IP address");
    else
      c.source = *a;
  }
  if (auto s = r.Str("start", 32, true)) {
    auto t = ParseRfc3339(*s);
    if (!t.ok())
      r.Fail("start", t.status().message());
    else
      c.start = *t;
  }
  c.duration = r.Int("duration", 1, int64_t{1} << 40, true).value_or(0);
  c.rrule = r.Str("rrule", 255, true).value_or("");
  if (!c.rrule.empty() && !ParseRrule(c.rrule).ok()) r.Fail("rrule", "not a supported RRULE");
  c.charged_cents = r.Int("charged_cents", 0, kMaxPriceCents, true).value_or(0);
  c.currency = r.Str("currency", 3, true).value_or("");
  bool keycast = c.mode == "keycast";
  c.addr = r.Str("addr", 512, keycast).value_or("");
  c.client = r.Str("client", 64, keycast).value_or("");
  c.api_key = r.Str("api_key", 128, keycast).value_or("");
  c.event = r.Str("event", 64, keycast).value_or("");
  c.spi = static_cast<uint32_t>(r.Int("spi", 1, 0xffffffffLL, !keycast).value_or(0));
  if (auto a = r.Str("algorithm", 32, !keycast)) {
    if (!crypto::ParseAeadName(*a, &c.algorithm))
      r.Fail("algorithm", "use aes-256-gcm or chacha20-poly1305");
  }
  if (auto k = r.Str("key", 64, !keycast)) {
    if (!FromHex(*k, &c.sa_key) || c.sa_key.size() != 32)
      r.Fail("key", "expected 64 hex characters");
  }
  KC_RETURN_IF_ERROR(r.Finish());
  return c;
}

std::string AgentConfigToEnvFile(const AgentConfig& c) {
  std::string s;
  s += "# Keycast receiver configuration for transmission '" + c.transmission + "' (receiver " +
       c.receiver + ")\n";
  s += "# Keep this file secret: it holds a credential.\n";
  if (c.mode == "keycast") {
    s += "# Use it:  set -a; . ./this-file; set +a; keycast client join \"$KEYCAST_EVENT\"\n";
    s += "KEYCAST_ADDR=" + c.addr + "\n";
    s += "KEYCAST_CLIENT_NAME=" + c.client + "\n";
    s += "KEYCAST_API_KEY=" + c.api_key + "\n";
    s += "KEYCAST_EVENT=" + c.event + "\n";
  } else {
    s += "# A static SA provided by the sender: install it in your security agent.\n";
    s += "KEYCAST_SA_SPI=" + std::to_string(c.spi) + "\n";
    s += "KEYCAST_SA_ALGORITHM=" + std::string(crypto::AeadName(c.algorithm)) + "\n";
    s += "KEYCAST_SA_KEY=" + ToHex(c.sa_key) + "\n";
  }
  s += "KEYCAST_GROUP=" + c.group.ToString() + "\n";
  s += "KEYCAST_PORT=" + std::to_string(c.port) + "\n";
  if (!c.source.empty()) s += "KEYCAST_SOURCE=" + c.source.ToString() + "\n";
  s += "KEYCAST_START=" + FormatRfc3339(c.start) + "\n";
  s += "KEYCAST_DURATION=" + FormatDuration(c.duration) + "\n";
  if (!c.rrule.empty()) s += "KEYCAST_RRULE='" + c.rrule + "'\n";
  return s;
}

// ---- receiver lists ----

Result<std::vector<ReceiverLine>> ParseReceiverList(std::string_view text) {
  if (text.size() > kMaxReceiversPerReservation * (kMaxReceiverName + kMaxReceiverPassword + 2))
    return InvalidArgument("receiver list is too long");
  std::vector<ReceiverLine> out;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos || line[b] == '#') {
      if (nl == text.size()) break;
      continue;
    }
    line.remove_prefix(b);
    std::string where = "receiver list, line " + std::to_string(line_no) + ": ";
    size_t sp = line.find_first_of(" \t");
    ReceiverLine rl;
    rl.name = std::string(line.substr(0, sp));
    Status st = ValidateReceiverName(rl.name);
    if (!st.ok()) return InvalidArgument(where + st.message());
    if (sp != std::string_view::npos) {
      std::string_view pw = line.substr(sp);
      size_t pb = pw.find_first_not_of(" \t");
      if (pb != std::string_view::npos) {
        pw.remove_prefix(pb);
        while (!pw.empty() && (pw.back() == ' ' || pw.back() == '\t')) pw.remove_suffix(1);
        st = ValidateReceiverPassword(pw);
        if (!st.ok()) return InvalidArgument(where + st.message());
        rl.password = std::string(pw);
      }
    }
    for (const auto& o : out)
      if (o.name == rl.name)
        return InvalidArgument(where + "receiver '" + rl.name + "' is listed twice");
    out.push_back(std::move(rl));
    if (out.size() > kMaxReceiversPerReservation)
      return InvalidArgument("at most " + std::to_string(kMaxReceiversPerReservation) +
                             " receivers per list");
    if (nl == text.size()) break;
  }
  return out;
}

// ---- forms and cookies ----

Result<std::map<std::string, std::string>> ParseForm(std::string_view body) {
  if (body.size() > kMaxFormBytes)
    return InvalidArgument("form is larger than " + std::to_string(kMaxFormBytes) + " bytes");
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view pair = body.substr(pos, amp - pos);
    pos = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string_view raw_name = pair.substr(0, eq);
    std::string_view raw_value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    KC_ASSIGN_OR_RETURN(std::string name, UrlDecode(raw_name, "name"));
    if (name.empty() || name.size() > 64)
      return InvalidArgument("form field name is empty or too long");
    for (char c : name)
      if (!IsKeyChar(c) && c != '.')
        return InvalidArgument("form field name '" + name.substr(0, 64) + "' is not allowed");
    KC_ASSIGN_OR_RETURN(std::string value, UrlDecode(raw_value, name));
    if (out.count(name)) return InvalidArgument("form field '" + name + "' is given twice");
    out.emplace(std::move(name), std::move(value));
    if (out.size() > kMaxFormFields) return InvalidArgument("form has too many fields");
  }
  return out;
}

std::map<std::string, std::string> ParseCookies(std::string_view header) {
  std::map<std::string, std::string> out;
  if (header.size() > kMaxCookieHeader) return out;
  size_t pos = 0;
  while (pos < header.size()) {
    size_t semi = header.find(';', pos);
    if (semi == std::string_view::npos) semi = header.size();
    std::string_view pair = header.substr(pos, semi - pos);
    pos = semi + 1;
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    size_t eq = pair.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    std::string name(pair.substr(0, eq));
    std::string value(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
      value = value.substr(1, value.size() - 2);
    out.emplace(std::move(name), std::move(value));  // keeps the first
  }
  return out;
}

// ---- money ----

std::string FormatMoney(int64_t cents, std::string_view currency) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%lld.%02lld", cents < 0 ? "-" : "",
                static_cast<long long>((cents < 0 ? -cents : cents) / 100),
                static_cast<long long>((cents < 0 ? -cents : cents) % 100));
  std::string s(buf);
  if (!currency.empty()) s += " " + std::string(currency);
  return s;
}

Result<int64_t> ParseMoney(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  if (text.empty()) return int64_t{0};
  int64_t whole = 0, frac = 0;
  size_t i = 0, digits = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
    whole = whole * 10 + (text[i] - '0');
    if (++digits > 9) return InvalidArgument("price is too large");
  }
  if (digits == 0) return InvalidArgument("price must be a number like 4.99");
  if (i < text.size()) {
    if (text[i] != '.') return InvalidArgument("price must be a number like 4.99");
    ++i;
    size_t fd = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
      if (++fd > 2) return InvalidArgument("price has at most two decimals");
      frac = frac * 10 + (text[i] - '0');
    }
    if (fd == 0 || i != text.size()) return InvalidArgument("price must be a number like 4.99");
    if (fd == 1) frac *= 10;
  }
  int64_t cents = whole * 100 + frac;
  if (cents > kMaxPriceCents)
    return InvalidArgument("price is above the maximum of " + FormatMoney(kMaxPriceCents, ""));
  return cents;
}

}  // namespace keycast::reservation
