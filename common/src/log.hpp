// JSON-lines logging on stderr. Values pass through redaction so that a phone
// number never appears whole: logs keep only its last four digits.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace vox {

// Replaces every phone-number-like token (an optional '+', then 7 to 15
// digits possibly separated by single spaces, dashes, dots or parentheses,
// not glued to letters or other digits) by "***" and its last four digits.
// A token also counts as glued when a single dash joins it to a letter or
// digit, as inside a UUID. Tokens shaped like something else commonly logged
// stay whole: one starting with a YYYY-MM-DD date, one whose last group is
// the hour of a time ("21 2025 16:00"), a decimal number (one dot, no other
// separator) and an IPv4 address (four dot-separated groups of 1 to 3 digits).
// A run of more than 15 digits is judged again up to its first space, and
// what follows the space on its own, so that a neighbouring number cannot
// hide a phone number.
std::string redact_phone_numbers(std::string_view text);

// One log line: {"ts": RFC 3339 UTC with milliseconds, "level", "msg", then
// the fields in their (sorted) key order}. Every string value, nested ones
// included, is redacted. A field named ts, level or msg becomes field_ts,
// field_level or field_msg; fields that are not an object go under "fields".
// The fields of `verbatim` follow, not redacted: values the caller made safe
// to show whole, redacting what of them could hold a phone number and
// keeping what it knows cannot (vox-relay's object keys end in vox's own
// queue ids, which reach the length of a phone number).
std::string format_log_line(std::string_view level, std::string_view message, const nlohmann::json& fields,
                            std::chrono::system_clock::time_point at,
                            const nlohmann::json& verbatim = nlohmann::json::object());

// Writes format_log_line(...) and a newline to stderr in one write, so lines
// from concurrent threads never interleave.
void log(std::string_view level, std::string_view message, const nlohmann::json& fields = nlohmann::json::object(),
         const nlohmann::json& verbatim = nlohmann::json::object());

}  // namespace vox
