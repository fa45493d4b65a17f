// keycast admin token ... | audit | keys ...: admin tokens, the audit log and
// service keys. Part of `keycast admin` (admin_cmd.cc registers it).
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/admin_common.h"
#include "cli/admin_output.h"
#include "keycast/schedule.h"

namespace keycast::cli::admin {
namespace {

struct MiscOpts {
  std::string description, id, after, limit, kind;
};

}  // namespace

void AddOperatorCommands(CLI::App* admin) {
  auto o = std::make_shared<MiscOpts>();

  auto* token = admin->add_subcommand("token", "Admin tokens: create, list, revoke");
  token->require_subcommand(1);
  auto* create = token->add_subcommand("create", "Create an admin token; it is printed once");
  create->add_option("--description", o->description, "Who or what the token is for");
  create->callback([o] {
    Run([o](AdminClient& c) -> Status {
      json body = json::object();
      if (!o->description.empty()) body["description"] = o->description;
      KC_ASSIGN_OR_RETURN(json r, c.Post("/v1/admin-tokens", body));
      PrintSecretOnce(r, "token", "admin token");
      return Status::Ok();
    });
  });
  auto* list = token->add_subcommand("list", "List admin tokens (never the secrets)");
  list->callback([] {
    Run([](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/admin-tokens"));
      Show(r, [&] {
        Table t({"ID", "CREATED", "REVOKED", "DESCRIPTION"});
        for (const auto& k : r["admin_tokens"])
          t.Row(
              {F(k, "id"), F(k, "created_at"), F(k, "revoked"), Truncate(F(k, "description"), 50)});
        t.Print("No admin tokens.");
      });
      return Status::Ok();
    });
  });
  auto* revoke =
      token->add_subcommand("revoke", "Revoke an admin token (it stops working at once)");
  revoke->add_option("id", o->id, "Token id, as `token list` shows it")->required();
  revoke->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r, c.Delete("/v1/admin-tokens/" + Seg(o->id)));
      Done(r, "Revoked admin token " + o->id + ".");
      return Status::Ok();
    });
  });

  auto* audit = admin->add_subcommand("audit", "Read the append-only audit log, oldest first");
  audit->add_option("--after", o->after, "Only records after this sequence number");
  audit->add_option("--limit", o->limit, "At most this many, 1-1000 (default 100)");
  audit->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Get("/v1/audit" + Query({{"after", o->after}, {"limit", o->limit}})));
      Show(r, [&] {
        Table t({"SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "DETAIL"});
        const json& recs = r["records"];
        for (const auto& a : recs) {
          std::string detail = a.contains("detail") && !a["detail"].is_string() ? a["detail"].dump()
                                                                                : F(a, "detail");
          t.Row({F(a, "seq"), F(a, "time"), F(a, "actor"), F(a, "action"), F(a, "target"),
                 Truncate(detail, 60)});
        }
        t.Print("No audit records.");
        size_t page = o->limit.empty() ? 100 : std::strtoul(o->limit.c_str(), nullptr, 10);
        if (!recs.empty() && recs.size() == page)
          std::printf("\nMore: keycast admin audit --after %s\n", F(recs.back(), "seq").c_str());
      });
      return Status::Ok();
    });
  });

  auto* keys = admin->add_subcommand("keys", "Service keys: list the published keys, rotate one");
  keys->require_subcommand(1);
  auto* klist = keys->add_subcommand("list", "List the published verification keys, every version");
  klist->callback([] {
    Run(
        [](AdminClient& c) -> Status {
          KC_ASSIGN_OR_RETURN(json r, c.Get("/v1/ticket-keys"));
          Show(r, [&] {
            Table t({"KIND", "VERSION", "STATE", "CREATED", "USABLE UNTIL", "PUBLIC KEY"});
            for (const auto& k : r["keys"]) {
              auto time = [&](const char* f) {
                int64_t v = k.value(f, int64_t{0});
                return v == 0 ? std::string("-") : FormatRfc3339(v);
              };
              t.Row({F(k, "kind"), F(k, "version"),
                     k.value("retired_at", int64_t{0}) == 0 ? "active" : "retired",
                     time("created_at"), time("usable_until"), F(k, "public_key")});
            }
            t.Print("No published keys.");
          });
          return Status::Ok();
        },
        /*needs_token=*/false);
  });
  auto* rotate = keys->add_subcommand(
      "rotate", "Make a new version active; older ones stay valid for the retention");
  rotate->add_option("kind", o->kind, "ticket-signing, ticket-sealing or rekey-signing")
      ->required();
  rotate->callback([o] {
    Run([o](AdminClient& c) -> Status {
      KC_ASSIGN_OR_RETURN(json r,
                          c.Post("/v1/service-keys/" + Seg(o->kind) + "/rotate", json::object()));
      Done(r, "Rotated " + o->kind + ": version " + F(r, "version") + " is active.");
      return Status::Ok();
    });
  });
}

}  // namespace keycast::cli::admin
