// What vox-shim hands on between Vapi and the database, beyond passing it
// through: bodies PostgreSQL's jsonb would refuse, and answers Vapi waits for.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace shim {

// Rewrites the JSON escapes PostgreSQL's jsonb refuses, \u0000 (22P05) and a
// lone UTF-16 surrogate (22P02, what JavaScript's JSON.stringify emits for a
// cut emoji), to \ufffd, the replacement character, so that one odd
// character, even in a field vox never reads, does not cost the event.
// Called after the signature is verified over the bytes as sent. Returns how
// many escapes were rewritten.
int repair_json_escapes(std::string& body);

// The HTTP body for the database's answer: its "response" (exactly what Vapi
// waits for: an assistant-request's assistant, tool-calls' results), else
// the answer as it is.
std::string vapi_response_body(const nlohmann::json& outcome, const std::string& answer);

}  // namespace shim
