// SQLSTATE to HTTP, exactly as DESIGN §3 says.
#pragma once

#include <string_view>

namespace shim {

// 400 for class 22 (invalid payload, including a signed event naming another
// org's assistant or number), 503 for what passes
// (serialization failure, deadlock, timeouts, connection loss, resources,
// shutdown), 500 for anything else.
int http_status_for_sqlstate(std::string_view sqlstate);

// Worth trying again at once on a (re)connected session: serialization
// failure, deadlock, a lost connection, a server shutting down or starting,
// and prepared statements gone from a reused session (26000). Timeouts are
// not: they would take as long again.
bool is_retryable_sqlstate(std::string_view sqlstate);

}  // namespace shim
