// What the reservation role's HTTP surfaces (the JSON API in routes.cc, the
// web pages in src/web/) are built from, and the JSON renderings they share.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "keycast/api_server.h"
#include "keycast/channel.h"
#include "keycast/reservation.h"
#include "reservation/sessions.h"

namespace httplib {
struct Request;
}

namespace keycast::reservation {

struct Service {
  ReservationPlatform* platform = nullptr;
  SessionStore* sessions = nullptr;
  ChannelServer* channel = nullptr;
  bool secure_cookies = false;  // set the Secure attribute on cookies (always under TLS)
};

// JSON API: sender sessions, reservations, statistics, ledger; public
// transmission search; the channel's HTTP transport (docs/reservations.md).
void AddApiRoutes(ApiServer& api, const Service& s);

// The sender of an API request: Authorization: Bearer kca_... (API key) or
// kcs_... (session); for GET requests also the kc_session cookie (the web
// page's statistics refresh). Unauthenticated / PermissionDenied otherwise.
Result<SenderIdentity> SenderOf(const Service& s, const httplib::Request& req, bool allow_cookie);

nlohmann::json ReservationJson(const ReservationView& v);
nlohmann::json StatsJson(const ReservationStats& st);
nlohmann::json LedgerJson(const LedgerEntry& e);
nlohmann::json GrantJson(const AccessGrant& g);
nlohmann::json TransmissionJson(const PublicTransmission& t);

}  // namespace keycast::reservation
