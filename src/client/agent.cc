// The client agent's timing (seed 001 Figures 6 and 9): one thread per
// event, sleeping until the next thing to do, listening for wakeups while it
// sleeps.
#include <algorithm>
#include <chrono>

#include "keycast/client.h"
#include "keycast/crypto.h"
#include "keycast/schedule.h"

namespace keycast {
namespace {

Micros Sec(int64_t s) { return s * kMicrosPerSecond; }

std::string Hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}

std::string Describe(const Epoch& e) {
  return "epoch " + std::to_string(e.occurrence) + "." + std::to_string(e.index);
}

}  // namespace

Agent::Agent(ClientSession session, std::string event_name, Options options)
    : session_(std::make_unique<ClientSession>(std::move(session))),
      event_name_(std::move(event_name)),
      options_(std::move(options)),
      rng_(options_.seed ? options_.seed : crypto::RandomU64()) {}

Agent::~Agent() { Stop(); }

Status Agent::Start() {
  event_ = session_->ticket.FindEvent(event_name_);
  if (!event_) return NotFound("event '" + event_name_ + "' is not in the ticket");
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

void Agent::Log(const std::string& m) {
  if (options_.log) options_.log(event_name_ + ": " + m);
}

// Local time corrected by the offset the key service reported, so a
// sender's intervals line up with the key service's (seed 000 claim 16).
Micros Agent::Now() const { return options_.clock->Now() + (client_ ? client_->clock_offset() : 0); }

void Agent::Accept(const SecurityAssociation& sa) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.keys;
    if (sa.role == Role::kSender) sender_ = sa.sender;
    if (keys_.current && keys_.current->epoch == sa.epoch) keys_.current = sa;
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
  Log("got " + Describe(sa.epoch) + (sa.clear ? " (clear interval)" : " SPI " + Hex32(sa.spi.value)) +
      (sa.role == Role::kSender ? " as sender " + std::to_string(sa.sender.value) : ""));
  if (options_.sink) options_.sink->Install(sa);
}

// One exchange; updates keys or state. Returns true when a key arrived.
bool Agent::Fetch(keyproto::RequestKind kind, Epoch epoch, uint64_t server_nonce) {
  {
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.requests;
  }
  auto rep = client_->Request(*event_, kind, epoch, sender(), server_nonce);
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
    Log("key request refused (" + std::string(keyproto::ReplyStatusName(rep->status)) + "): " + rep->reason);
    if (rep->status == keyproto::ReplyStatus::kNotAuthorized) {
      revoked_ = true;
      if (options_.sink) options_.sink->Revoked(event_->id, rep->reason);
    }
    return false;
  }
  for (const auto& sa : rep->sas) Accept(sa);
  return !rep->sas.empty();
}

void Agent::Run() {
  const Schedule& sch = event_->schedule;
  const uint32_t interval = event_->interval_seconds;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  enum class Next { kInitial, kRefresh } next = Next::kInitial;
  Micros due = 0;
  Epoch want;
  int backoff_ms = 500;

  auto plan_initial = [&] {
    Micros now = Now();
    auto occ = NextOccurrence(sch, now / kMicrosPerSecond);
    if (!occ) {
      Log("the event is over");
      revoked_ = true;
      if (options_.sink) options_.sink->Revoked(event_->id, "event over");
      return false;
    }
    Micros start = Sec(occ->start), opens = Sec(occ->start - event_->initial_keying_seconds);
    next = Next::kInitial;
    if (now >= start) {
      due = now;  // late join: ask at once (seed 001 Figure 7)
    } else {
      // Seed 000 claim 10: a random instant of the initial keying period.
      Micros from = std::max(now, opens);
      due = from + static_cast<Micros>(unit(rng_) * static_cast<double>(start - from));
      Log("initial key request scheduled " + std::to_string((due - now) / 1000) + " ms from now");
    }
    return true;
  };
  auto plan_refresh = [&](const SecurityAssociation& have) {
    auto nxt = NextEpoch(sch, interval, have.epoch);
    Micros end = have.initiation + have.lifetime;
    if (!nxt) return plan_initial();
    auto w = EpochWindow(sch, interval, *nxt);
    if (!w.ok() || Sec(w->first) != end) return plan_initial();  // a gap: next occurrence
    if (refresh_offset_ms_ < 0) {
      // Seed 000 claim 12: random in the first forward security window,
      // then the same offset in every later one. The last quarter of the
      // window is left for retries.
      refresh_offset_ms_ = static_cast<int64_t>(unit(rng_) * 0.75 * interval * 1000.0);
      Log("refreshing " + std::to_string(refresh_offset_ms_) + " ms into each interval");
    }
    next = Next::kRefresh;
    want = *nxt;
    due = std::max(have.initiation + refresh_offset_ms_ * 1000, Now());
    return true;
  };

  if (!plan_initial()) return;
  while (!stop_) {
    {
      std::lock_guard<std::mutex> l(session_mu_);
      if (pending_session_) {
        session_ = std::move(pending_session_);
        const TicketEvent* e = session_->ticket.FindEvent(event_name_);
        if (e) {
          event_ = e;
          Micros offset = client_->clock_offset();
          client_ = std::make_unique<KeyClient>(*session_, options_.key_client);
          client_->set_clock_offset(offset);
          Log("switched to a fresh ticket");
        }
      }
    }
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
    if (revoked_) {
      // Keep answering nothing; keys age out in the data plane.
      client_->WaitForWakeup(200);
      continue;
    }
    if (now >= due) {
      bool got;
      if (next == Next::kInitial) {
        got = Fetch(keyproto::RequestKind::kInitial, Epoch{}, keyproto::kClientInitiated);
      } else {
        got = Fetch(keyproto::RequestKind::kRefresh, want, keyproto::kClientInitiated);
      }
      if (revoked_) continue;
      if (got) {
        backoff_ms = 500;
        std::optional<SecurityAssociation> latest;
        {
          std::lock_guard<std::mutex> l(mu_);
          latest = keys_.next ? keys_.next : keys_.current;
        }
        if (!plan_refresh(*latest)) return;
      } else {
        // Retry with jittered exponential backoff; an initial request that
        // was too early waits for the window (retry_after was logged).
        int wait = static_cast<int>(backoff_ms * (0.5 + unit(rng_)));
        backoff_ms = std::min(backoff_ms * 2, 5000);
        due = Now() + static_cast<Micros>(wait) * 1000;
        if (next == Next::kRefresh) {
          auto w = EpochWindow(sch, interval, want);
          if (w.ok() && Now() >= Sec(w->second)) {
            if (!plan_initial()) return;
          }
        }
      }
      continue;
    }
    int sleep_ms = static_cast<int>(std::clamp<Micros>((due - now) / 1000, 1, 200));
    auto wakeup = client_->WaitForWakeup(sleep_ms);
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
