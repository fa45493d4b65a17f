// The client agent's timing (seed 001 Figures 6 and 9): one thread per
// event, sleeping until the next thing to do, listening for wakeups while it
// sleeps.
#include <poll.h>

#include <algorithm>
#include <chrono>

#include "keycast/client.h"
#include "keycast/crypto.h"
#include "keycast/limits.h"
#include "keycast/push/member.h"
#include "keycast/schedule.h"

namespace keycast {
namespace {

std::string Hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

std::string Describe(const Epoch& e) {
  return "epoch " + std::to_string(e.occurrence) + "." + std::to_string(e.index);
}

}  // namespace

// Push state of one agent (docs/push.md). Run's thread only.
struct Agent::Push {
  std::map<uint32_t, crypto::VerifyKey> keys;  // rekey-signing keys by version
  std::unique_ptr<push::PushMember> member;
  std::unique_ptr<PushReceiver> receiver;
  Micros lead = 0;          // pushes leave this long before their epoch starts
  Micros member_until = 0;  // renew (pull) before this
  bool disabled = false;    // the control group cannot be joined: pull

  void SetKeys(const ClientSession& s) {
    keys.clear();
    for (const auto& [v, pk] : s.rekey_keys)
      if (auto vk = crypto::VerifyKey::FromBytes(pk); vk.ok())
        keys.emplace(v.value, std::move(vk).value());
  }
};

Agent::Agent(ClientSession session, std::string event_name, Options options)
    : session_(std::make_shared<const ClientSession>(std::move(session))),
      event_name_(std::move(event_name)),
      options_(std::move(options)),
      rng_(options_.seed ? options_.seed : crypto::RandomU64()) {}

Agent::~Agent() { Stop(); }

Status Agent::Start() {
  const TicketEvent* e = session_->ticket.FindEvent(event_name_);
  if (!e) return NotFound("event '" + event_name_ + "' is not in the ticket");
  event_ = std::shared_ptr<const TicketEvent>(session_, e);
  client_ = std::make_unique<KeyClient>(*session_, options_.key_client);
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Agent::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Agent::Keys Agent::keys() const {
  std::lock_guard<std::mutex> l(mu_);
  return keys_;
}

Agent::Stats Agent::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

SenderId Agent::sender() const {
  std::lock_guard<std::mutex> l(mu_);
  return sender_;
}

void Agent::UpdateSession(ClientSession session) {
  std::lock_guard<std::mutex> l(session_mu_);
  pending_session_ = std::make_unique<ClientSession>(std::move(session));
}

void Agent::TakePendingSession() {
  std::unique_ptr<ClientSession> fresh;
  {
    std::lock_guard<std::mutex> l(session_mu_);
    fresh = std::move(pending_session_);
  }
  if (!fresh) return;
  std::shared_ptr<const ClientSession> session(std::move(fresh));
  const TicketEvent* e = session->ticket.FindEvent(event_name_);
  if (!e) {
    Log("a fresh ticket without this event; keeping the current one");
    return;
  }
  // The new key client is built before the old session can go: the old
  // client refers to the old session until it is replaced.
  Micros offset = client_->clock_offset();
  auto client = std::make_unique<KeyClient>(*session, options_.key_client);
  client->set_clock_offset(offset);
  client_ = std::move(client);
  event_ = std::shared_ptr<const TicketEvent>(session, e);
  session_ = std::move(session);
  if (!session_->rekey_keys.empty()) push_->SetKeys(*session_);
  Log("switched to a fresh ticket");
}

void Agent::Log(const std::string& m) {
  if (options_.log) options_.log(event_name_ + ": " + m);
}

// Local time corrected by the offset the key service reported, so a
// sender's intervals line up with the key service's (seed 000 claim 16).
Micros Agent::Now() const {
  return options_.clock->Now() + (client_ ? client_->clock_offset() : 0);
}

void Agent::Accept(const SecurityAssociation& sa) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.keys;
    if (sa.role == Role::kSender) sender_ = sa.sender;
    if (keys_.current && keys_.current->epoch == sa.epoch)
      keys_.current = sa;
    else if (!keys_.current || sa.epoch > keys_.current->epoch) {
      if (keys_.current && Now() >= sa.initiation) {
        keys_.previous = keys_.current;
        keys_.current = sa;
        keys_.next.reset();
      } else if (!keys_.current) {
        keys_.current = sa;
      } else {
        keys_.next = sa;
      }
    }
  }
  Log("got " + Describe(sa.epoch) +
      (sa.clear ? " (clear interval)" : " SPI " + Hex32(sa.spi.value)) +
      (sa.role == Role::kSender ? " as sender " + std::to_string(sa.sender.value) : ""));
  if (options_.sink) options_.sink->Install(sa);
}

// One exchange; updates keys or state. Returns true when a key arrived.
bool Agent::Fetch(keyproto::RequestKind kind, Epoch epoch, uint64_t server_nonce,
                  const std::vector<SenderId>& signer_hints) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.requests;
  }
  auto rep = client_->Request(*event_, kind, epoch, sender(), server_nonce, signer_hints);
  if (!rep.ok()) {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.failures;
    Log("key request failed: " + rep.status().message());
    return false;
  }
  if (rep->status != keyproto::ReplyStatus::kOk) {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.refusals;
    }
    Log("key request refused (" + std::string(keyproto::ReplyStatusName(rep->status)) +
        "): " + rep->reason);
    if (rep->status == keyproto::ReplyStatus::kNotAuthorized) {
      revoked_ = true;
      push_->receiver.reset();
      if (options_.sink) options_.sink->Revoked(event_->id, rep->reason);
    }
    return false;
  }
  for (const auto& sa : rep->sas) Accept(sa);
  if (!rep->extra.empty()) HandleGrant(rep->extra);
  SecureWipe(rep->extra.data(), rep->extra.size());
  return !rep->sas.empty();
}

bool Agent::PushActive() const {
  const Push& p = *push_;
  return p.receiver && p.member && p.member->has_keys() && !p.member->needs_pull();
}

// The push grant in a key reply: path keys once admitted, and where and when
// the pushes come.
void Agent::HandleGrant(ByteView extra) {
  if (!options_.use_push || event_->delivery == KeyDelivery::kPull) return;
  Push& p = *push_;
  auto g = push::PushGrant::Decode(extra);
  if (!g.ok()) {
    Log("ignoring a push grant: " + g.status().message());
    return;
  }
  p.lead = static_cast<Micros>(g->lead_ms) * 1000;
  p.member_until = g->member_until;
  if (g->state != push::GrantState::kAdmitted || p.disabled) return;
  if (!p.member) {
    push::PushMember::Options mo;
    mo.max_message_bytes = options_.push_max_message_bytes;
    Push* pp = &p;
    p.member = std::make_unique<push::PushMember>(
        event_->id,
        [pp](KeyVersion v) -> const crypto::VerifyKey* {
          auto it = pp->keys.find(v.value);
          return it == pp->keys.end() ? nullptr : &it->second;
        },
        mo);
  }
  bool had = p.member->has_keys() && !p.member->needs_pull();
  if (Status st = p.member->Install(*g); !st.ok()) {
    Log("ignoring path keys: " + st.message());
    return;
  }
  if (!p.receiver || !(p.receiver->group() == g->control_group) ||
      p.receiver->port() != g->control_port) {
    if (p.keys.empty()) {
      Log("no rekey-signing key to verify pushes with; pulling instead");
      p.disabled = true;
      return;
    }
    auto r = PushReceiver::Open(g->control_group, g->control_port, options_.push_interface);
    if (!r.ok()) {
      Log("cannot join the control group " + g->control_group.ToString() + ":" +
          std::to_string(g->control_port) + " (" + r.status().message() + "); pulling instead");
      p.disabled = true;
      return;
    }
    p.receiver = std::move(r).value();
  }
  if (!had) {
    Log("following pushes on " + g->control_group.ToString() + ":" +
        std::to_string(g->control_port) + " from seq " + std::to_string(p.member->last_seq()));
  }
}

// One datagram of the control group. Returns true when it completed a push
// that gave a key.
bool Agent::OnPushDatagram(ByteView datagram) {
  Push& p = *push_;
  if (!p.member) return false;
  uint64_t rejected = p.member->counters().rejected;
  auto k = p.member->OnDatagram(datagram);
  if (p.member->counters().rejected != rejected) {
    {
      std::lock_guard<std::mutex> l(mu_);
      ++stats_.push_rejected;
    }
    Log("dropped a push (" + std::string(push::PushRejectName(p.member->last_reject())) + ")" +
        (p.member->needs_pull() ? "; will pull" : ""));
  }
  if (!k) return false;
  SecurityAssociation sa = std::move(k->sa);
  sa.role = event_->role;
  if (sa.role == Role::kSender) sa.sender = sender();
  sa.group = event_->group_address;
  sa.port = event_->port;
  sa.source = event_->source_address;
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.pushed;
  }
  Log("push seq " + std::to_string(k->seq) + ":");
  Accept(sa);
  return true;
}

// The schedule is read from event_ at each use, never held across a
// renewal (TakePendingSession), which may replace the event.
void Agent::Run() {
  AgentTiming timing(AgentTiming::Of(*event_), rng_());
  push_ = std::make_unique<Push>();
  push_->SetKeys(*session_);
  const bool both = event_->delivery == KeyDelivery::kBoth;
  enum class Next { kInitial, kRefresh, kAwaitPush } next = Next::kInitial;
  Micros due = 0;
  Epoch want;

  auto plan_initial = [&] {
    auto at = timing.InitialRequestAt(Now());
    if (!at) {
      Log("the event is over");
      revoked_ = true;
      if (options_.sink) options_.sink->Revoked(event_->id, "event over");
      return false;
    }
    next = Next::kInitial;
    due = *at;
    if (due > Now())
      Log("initial key request scheduled " + std::to_string((due - Now()) / 1000) + " ms from now");
    return true;
  };
  auto plan_refresh = [&](const SecurityAssociation& have) {
    bool first = timing.refresh_offset_ms() < 0;
    auto r = timing.NextRefresh(have.epoch, have.initiation, have.lifetime, Now());
    if (!r) return plan_initial();
    if (first) {
      refresh_offset_ms_ = timing.refresh_offset_ms();
      Log("refreshing " + std::to_string(refresh_offset_ms_) + " ms into each interval");
    }
    want = r->epoch;
    next = Next::kRefresh;
    due = r->due;
    if (PushActive() && !both) {
      // Push: the key of `want` comes lead before it starts; pull only if
      // it does not, or to renew a membership that would lapse.
      auto w = EpochWindow(event_->schedule, event_->interval_seconds, want);
      if (w.ok()) {
        Micros push_at = w->first * kMicrosPerSecond - push_->lead;
        bool renew = push_->member_until != 0 &&
                     w->second * kMicrosPerSecond + push_->lead >= push_->member_until;
        if (!renew) {
          next = Next::kAwaitPush;
          due = timing.PushFallbackAt(push_at, push_->lead);
        }
      }
    }
    return true;
  };
  auto latest_key = [&]() -> std::optional<SecurityAssociation> {
    std::lock_guard<std::mutex> l(mu_);
    return keys_.next ? keys_.next : keys_.current;
  };

  if (!plan_initial()) return;
  Micros next_signer_lookup = 0;
  while (!stop_) {
    TakePendingSession();
    // Rotate held keys on time.
    {
      std::lock_guard<std::mutex> l(mu_);
      if (keys_.next && Now() >= keys_.next->initiation) {
        keys_.previous = keys_.current;
        keys_.current = keys_.next;
        keys_.next.reset();
      }
    }
    Micros now = Now();
    // Source authentication: ask about senders the data plane saw but its
    // SA did not vouch for (one joined after this agent's fetch), at most
    // every limits::kSignerLookupIntervalMicros.
    Epoch lookup_epoch;
    std::vector<SenderId> hints;
    if (!revoked_ && options_.sink && now >= next_signer_lookup &&
        options_.sink->TakeSignerHints(event_->id, &lookup_epoch, &hints)) {
      next_signer_lookup = now + limits::kSignerLookupIntervalMicros;
      if (hints.size() > limits::kMaxSignerHints) hints.resize(limits::kMaxSignerHints);
      Log("asking the key service about " + std::to_string(hints.size()) + " unlisted sender(s)");
      Fetch(keyproto::RequestKind::kRefresh, lookup_epoch, keyproto::kClientInitiated, hints);
    }
    if (revoked_) {
      // Keep answering nothing; keys age out in the data plane.
      push_->receiver.reset();
      client_->WaitForWakeup(200);
      continue;
    }
    if (now >= due) {
      if (next == Next::kAwaitPush) {
        // The push of `want` did not come, or could not be used: pull it.
        {
          std::lock_guard<std::mutex> l(mu_);
          ++stats_.push_fallbacks;
        }
        Log("no usable push for " + Describe(want) + "; pulling it");
        next = Next::kRefresh;
      }
      bool got;
      AgentTiming::FirstRequest first;
      if (next == Next::kInitial) first = timing.FirstRequestAt(now);
      if (next == Next::kInitial && first.refresh) {
        // Figure 7: in the clear interval before the first encrypted one,
        // ask for that one's key directly; the current interval is clear.
        auto w = EpochWindow(event_->schedule, event_->interval_seconds, *first.clear_now);
        if (w.ok() && !keys().current) {
          SecurityAssociation clear;
          clear.event = event_->id;
          clear.epoch = *first.clear_now;
          clear.clear = true;
          clear.algorithm = event_->algorithm;
          clear.initiation = w->first * kMicrosPerSecond;
          clear.lifetime = (w->second - w->first) * kMicrosPerSecond;
          clear.role = event_->role;
          clear.group = event_->group_address;
          clear.port = event_->port;
          clear.source = event_->source_address;
          Accept(clear);
        }
        got = Fetch(keyproto::RequestKind::kRefresh, first.epoch, keyproto::kClientInitiated);
      } else if (next == Next::kInitial) {
        got = Fetch(keyproto::RequestKind::kInitial, Epoch{}, keyproto::kClientInitiated);
      } else {
        got = Fetch(keyproto::RequestKind::kRefresh, want, keyproto::kClientInitiated);
      }
      if (revoked_) continue;
      if (got) {
        timing.ResetBackoff();
        if (!plan_refresh(*latest_key())) return;
      } else {
        // Retry with jittered exponential backoff; an initial request that
        // was too early waits for the window (retry_after was logged).
        due = timing.RetryAt(Now());
        if (next == Next::kRefresh) {
          auto w = EpochWindow(event_->schedule, event_->interval_seconds, want);
          if (w.ok() && Now() >= w->second * kMicrosPerSecond) {
            if (!plan_initial()) return;
          }
        }
      }
      continue;
    }
    int sleep_ms = static_cast<int>(std::clamp<Micros>((due - now) / 1000, 1, 200));
    std::optional<keyproto::Wakeup> wakeup;
    if (push_->receiver) {
      pollfd fds[2] = {{push_->receiver->fd(), POLLIN, 0}, {client_->udp_fd(), POLLIN, 0}};
      ::poll(fds, 2, sleep_ms);
      if (fds[0].revents & POLLIN) {
        bool got = false;
        push_->receiver->Drain([&](ByteView d) { got |= OnPushDatagram(d); });
        auto latest = latest_key();
        // A gap or a push it cannot open (needs_pull) leaves the fallback
        // pull where it is: at this agent's random point after the push.
        if (got && next == Next::kAwaitPush && latest && latest->epoch >= want) {
          if (!plan_refresh(*latest)) return;
        }
      }
      wakeup = client_->WaitForWakeup(0);
    } else {
      wakeup = client_->WaitForWakeup(sleep_ms);
    }
    if (wakeup && wakeup->event == event_->id) {
      // Seed 003: answer with the server's nonce; give up after a timeout.
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.wakeups;
      }
      Log("wakeup from the key service; refetching keys");
      // One try per server, bounded by the wakeup timeout: the key service
      // disregards answers it did not ask for, so retrying blindly is useless.
      KeyClient::Options normal = client_->options();
      KeyClient::Options once = normal;
      once.attempts_per_server = 1;
      once.initial_timeout_ms = options_.wakeup_answer_timeout_ms;
      client_->set_options(once);
      bool got = Fetch(keyproto::RequestKind::kInitial, Epoch{}, wakeup->server_nonce);
      client_->set_options(normal);
      if (!got && !revoked_) {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.wakeup_timeouts;
        Log("no answer to the server-initiated exchange; gave up");
      }
    }
  }
}

}  // namespace keycast
