// What vox-shim hands on between Vapi and the database, beyond passing it
// through: bodies PostgreSQL's jsonb would refuse, and answers Vapi waits for.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace shim {

// Rewrites the JSON escapes PostgreSQL's jsonb refuses, \u0000 (22P05) and a
// lone UTF-16 surrogate (22P02, what JavaScript's JSON.stringify emits for a
// cut emoji), to \ufffd, the replacement character, so that one odd
// character, even in a field vox never reads, does not cost the event.
// Called after the signature is verified over the bytes as sent. Returns how
// many escapes were rewritten.
int repair_json_escapes(std::string& body);

// What the shim reads of a webhook body, for logs and the per-call rate
// limit: the message's type and call id (when strings), from Vapi's envelope
// ({"message": {...}}) or the flat form.
struct VapiEvent {
  bool json = false;    // nlohmann could read it (else it goes to the database as it is)
  bool object = false;  // it is a JSON object
  std::optional<std::string> type, call_id;
};
VapiEvent read_vapi_event(std::string_view body);

// What the shim reads of the database's answer: its status and org_id (when
// strings), for logs and metrics, and the HTTP body for Vapi: the answer's
// "response" (exactly what Vapi waits for: an assistant-request's assistant,
// tool-calls' results), else the answer as it is.
struct DatabaseAnswer {
  std::string status, org_id, body;
};
DatabaseAnswer read_database_answer(const std::string& answer);

}  // namespace shim
