// libFuzzer target for the key service's decision procedure behind a valid
// proof of possession. Blind bytes never pass the credential's AEAD or the
// request's HMAC tag (key_request_fuzz covers that outer layer), so this
// target holds four real tickets and lets the input choose the request's
// fields, the server clock and a few attacks; it then encodes the request
// with the ticket's session keys and hands it to KeyEngine::Handle.
//
// Input (short inputs are padded with zeros):
//   client:u8 flags:u8 flip_at:u16 clock:i32 skew:i32 kind:u8
//   occurrence:u32 index:u32 sender:u32 event:u64 server_nonce:u64
// flags: 1 flip one byte of the encoded request at flip_at, 2 over TCP,
//        4 send the previous input's request again, 8 use `event` as is
//        (else the ticket's event), 16 use `server_nonce` (else
//        client-initiated), 32 another client's credential under this
//        client's keys.
//
// Invariants, each a crash when broken:
//   - a request changed after it was tagged, or carrying another client's
//     credential, gets no reply at all (unauthenticated senders get no bytes);
//   - every reply opens under the requester's reply key and echoes its nonce;
//   - a granted SA is for the event asked for and the requester's role.
//
//   scripts/fuzz --seconds 60 key_engine_fuzz
#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "keycast/codec.h"
#include "keycast/key_service.h"
#include "keycast/ticket_service.h"

namespace keycast {
namespace {

constexpr int64_t kStart = 1'900'000'000;  // the event's start, Unix seconds
constexpr size_t kInputBytes = 41;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "key_engine_fuzz: %s\n", what);
  std::abort();
}

struct Member {
  Role role;
  keyproto::SessionKeys keys;
  Ticket ticket;
};

struct State {
  FakeClock clock{(kStart - 60) * kMicrosPerSecond};
  std::unique_ptr<Store> store;
  std::unique_ptr<Sealer> sealer;
  std::unique_ptr<Directory> dir;
  std::unique_ptr<ServiceKeys> keys;
  std::unique_ptr<KeyEngine> engine;
  std::vector<Member> members;
  Bytes previous;  // the last request sent, for replays
};

void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "key_engine_fuzz: %s: %s\n", what, s.ToString().c_str());
    std::abort();
  }
}

State* Init() {
  auto* s = new State;
  const Actor admin{"admin:fuzz"};
  s->store = std::move(OpenSqliteStore(":memory:")).value();
  s->sealer = std::make_unique<Sealer>(*Sealer::FromKey(crypto::RandomSecret(32)));
  s->dir = std::move(Directory::Open(s->store.get(), s->sealer.get(), &s->clock,
                                     {PasswordCost::kTestOnly}))
               .value();
  s->keys =
      std::move(ServiceKeys::Open(s->store.get(), s->sealer.get(), &s->clock, 3600, true)).value();
  KeyServiceOptions o;
  o.replay_cache_entries = 4096;  // bounded memory over millions of inputs
  s->engine = std::make_unique<KeyEngine>(s->dir.get(), s->keys.get(), s->store.get(),
                                          s->sealer.get(), &s->clock, o);
  Check(s->dir->CreateGroup(admin, {"viewers", ""}).status(), "group");
  Check(s->dir->CreateGroup(admin, {"studio", ""}).status(), "group");
  EventSpec e;
  e.name = "show";
  e.title = "The show";
  e.group_address = *IpAddress::Parse("239.5.5.5");
  e.port = 5000;
  e.schedule.start = kStart;
  e.schedule.duration = 600;
  e.interval_seconds = 10;
  e.initial_keying_seconds = 120;
  e.clear_intervals = 1;
  e.key_servers = {*Endpoint::Parse("127.0.0.1:7400")};
  Check(s->dir->CreateEvent(admin, e).status(), "event");
  Check(s->dir->AddAssignment(admin, "show", "viewers"), "assignment");
  Check(s->dir->AddAssignment(admin, "show", "studio"), "assignment");
  TicketService tickets(s->dir.get(), s->keys.get(), &s->clock, TicketServiceOptions{3600});
  struct {
    const char* name;
    const char* group;
    Role role;
  } const people[] = {{"alice", "viewers", Role::kReceiver},
                      {"bob", "viewers", Role::kReceiver},
                      {"cam1", "studio", Role::kSender},
                      {"cam2", "studio", Role::kSender}};
  for (const auto& p : people) {
    Check(s->dir->CreateClient(admin, ClientSpec{p.name, "", std::nullopt, true}).status(),
          "client");
    Check(s->dir->SetMembership(admin, p.name, p.group, p.role, true), "membership");
    auto id = s->dir->FindClient(p.name);
    if (!id) Fail("find client");
    auto t = tickets.Issue(AuthenticatedClient{*id, p.name, "fuzz"});
    if (!t.ok()) Fail("issue ticket");
    auto ticket = DecodeTicket(t->ticket);
    if (!ticket.ok()) Fail("decode ticket");
    s->members.push_back(
        {p.role, keyproto::SessionKeys::Derive(t->session_key, ticket->id), *std::move(ticket)});
  }
  return s;
}

}  // namespace
}  // namespace keycast

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace keycast;
  static State* s = Init();
  uint8_t in[kInputBytes] = {};
  std::copy_n(data, std::min(size, kInputBytes), in);

  const Member& m = s->members[in[0] % s->members.size()];
  const Member& other = s->members[(in[0] + 1) % s->members.size()];
  const uint8_t flags = in[1];
  const bool flip = flags & 1, tcp = flags & 2, replay = flags & 4, raw_event = flags & 8,
             raw_nonce = flags & 16, foreign_credential = flags & 32;
  // The server clock: within about a day of the event, so every window
  // (too early, keying period, live, forward security, over) is reachable.
  const auto clock_offset = static_cast<int32_t>(LoadBe32(in + 4)) % 90'000;
  const auto skew = static_cast<int32_t>(LoadBe32(in + 8)) % 120;
  s->clock.Set((kStart + clock_offset) * kMicrosPerSecond);

  keyproto::Request q;
  q.credential = foreign_credential ? other.ticket.credential : m.ticket.credential;
  crypto::RandomFill(q.client_nonce);
  q.timestamp = s->clock.Now() + int64_t{skew} * kMicrosPerSecond;
  q.kind = static_cast<keyproto::RequestKind>(in[12]);
  q.epoch = Epoch{LoadBe32(in + 13), LoadBe32(in + 17)};
  q.sender = SenderId{LoadBe32(in + 21)};
  q.event = raw_event ? EventId(LoadBe64(in + 25)) : m.ticket.events.at(0).id;
  q.server_nonce = raw_nonce ? LoadBe64(in + 33) : keyproto::kClientInitiated;

  Bytes wire = keyproto::EncodeRequest(q, m.keys);
  const bool tampered = flip && !wire.empty();
  if (tampered) wire[LoadBe16(in + 2) % wire.size()] ^= 0x5a;
  if (replay && !s->previous.empty()) wire = s->previous;
  s->previous = wire;

  sockaddr_storage from{};
  from.ss_family = AF_INET;
  KeyOutcome outcome{};
  Bytes out = s->engine->Handle(wire, from, sizeof(sockaddr_in), tcp, &outcome);
  if (replay) return 0;  // the nonce the reply answers is the earlier input's
  if (tampered || foreign_credential) {
    if (!out.empty()) Fail("answered a request that does not authenticate");
    return 0;
  }
  if (out.empty()) return 0;  // dropped (e.g. an unknown kind byte): allowed
  auto reply = keyproto::OpenReply(out, m.keys, q.client_nonce);
  if (!reply.ok()) Fail("a reply does not open under the requester's keys");
  for (const auto& sa : reply->sas) {
    if (sa.event != q.event) Fail("an SA for another event");
    if (sa.role != m.role) Fail("an SA for another role");
  }
  if (outcome == KeyOutcome::kOk && reply->status != keyproto::ReplyStatus::kOk)
    Fail("outcome ok but the reply refuses");
  return 0;
}
