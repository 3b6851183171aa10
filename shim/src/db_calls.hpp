// vox-shim's statements, prepared by each pooled session, and the calls
// that run them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "db_pool.hpp"

namespace shim {

using vox::DbConnection;
using vox::DbResult;

const std::vector<vox::PreparedStatement>& shim_statements();

// SELECT vox.handle_event(org_id, payload, delivery_id); org_id empty: no signer.
DbResult handle_event(DbConnection& db, const std::optional<std::string>& org_id, const std::string& payload,
                      const std::optional<std::string>& delivery_id, DbConnection::Clock::time_point deadline);
// SELECT vox.webhook_secrets_for(org_id): a JSON array.
DbResult webhook_secrets(DbConnection& db, const std::string& org_id, DbConnection::Clock::time_point deadline);

}  // namespace shim
