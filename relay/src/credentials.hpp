// What a feed or transcript request says about who asks and for what: the org
// of its path, its credential (a ?token= for pages, whose EventSource cannot
// send headers; Authorization: Bearer for servers) and its resume point.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace relay {

// The org id in its one spelling (lowercase), or nothing for a non-UUID.
std::optional<std::string> canonical_org_id(std::string_view text);

// The token: the Authorization header's when there is one (which must then
// say "Bearer <token>", any case), else the query's. Nothing when there is
// none, or when it cannot be a token (only base64url characters and '_', at
// most 128 of them): such a request is refused without asking the database.
std::optional<std::string> credential_token(const std::optional<std::string>& authorization,
                                            const std::optional<std::string>& query_token);

// Where to resume: the Last-Event-ID header's cursor, else ?last_event_id=.
// Empty values count as none; what the cursor holds is the database's to judge.
std::optional<std::string> resume_point(const std::optional<std::string>& header,
                                        const std::optional<std::string>& query);

}  // namespace relay
