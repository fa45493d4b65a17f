// Sender sign-in sessions and CSRF tokens of the reservation platform: the
// web pages' session store (keycast/web_session.h) with a sender as subject.
// The API takes a session token as a bearer token, the web pages as an
// HttpOnly, SameSite=Strict cookie.
#pragma once

#include "keycast/reservation.h"
#include "keycast/web_session.h"

namespace keycast::reservation {

using SessionStore = web::SessionStore<SenderIdentity>;

}  // namespace keycast::reservation
