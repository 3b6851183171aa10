#include "db_calls.hpp"

namespace shim {

namespace {

constexpr const char* kHandleEvent = "vox_handle_event";
constexpr const char* kWebhookSecrets = "vox_webhook_secrets";

}  // namespace

const std::vector<vox::PreparedStatement>& shim_statements() {
  static const std::vector<vox::PreparedStatement> all = {
      {kHandleEvent, "SELECT vox.handle_event($1::uuid, $2::jsonb, $3::text)"},
      {kWebhookSecrets, "SELECT vox.webhook_secrets_for($1::uuid)"},
  };
  return all;
}

DbResult handle_event(DbConnection& db, const std::optional<std::string>& org_id, const std::string& payload,
                      const std::optional<std::string>& delivery_id, DbConnection::Clock::time_point deadline) {
  const char* values[] = {org_id ? org_id->c_str() : nullptr, payload.c_str(),
                          delivery_id ? delivery_id->c_str() : nullptr};
  return db.run(kHandleEvent, 3, values, deadline);
}

DbResult webhook_secrets(DbConnection& db, const std::string& org_id, DbConnection::Clock::time_point deadline) {
  const char* values[] = {org_id.c_str()};
  return db.run(kWebhookSecrets, 1, values, deadline);
}

}  // namespace shim
