// The reservation role's web pages (docs/reservations.md, "Web pages"):
// senders sign in, file, edit and cancel reservations and watch their
// statistics; receivers find a transmission, request access (password
// and/or card), and download the configuration for their agent.
//
// Server-rendered HTML with a little JavaScript (statistics refresh), no
// external resources (Content-Security-Policy: default-src 'self'). Sessions
// are HttpOnly, SameSite=Strict cookies (Secure under TLS); every form
// carries a CSRF token (reservation/sessions.h).
#pragma once

#include "keycast/api_server.h"
#include "reservation/service.h"

namespace keycast::web {

// The home page is at /reservations, and at / too when `home_at_root` (a
// node without the operator console, which owns / where it runs).
void AddPages(ApiServer& api, const reservation::Service& s, bool home_at_root = true);

}  // namespace keycast::web
