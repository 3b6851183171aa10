// A few values of a JSON text, read in one pass without building the
// document: all the shim reads of a webhook body (its type and call id) and
// of the database's answer, and building a whole document for them cost more
// than anything else the shim did per request.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace shim {

// Keys of nested objects, outermost first; empty: the whole text.
using JsonPath = std::vector<std::string_view>;

struct JsonField {
  nlohmann::json::value_t type = nlohmann::json::value_t::discarded;  // discarded: not there
  std::string string;                                                 // the value, when a string
};

// The value at each of `paths` (at most 32) as nlohmann::json::parse would
// leave it: the last one when a key repeats. nullopt when parse would refuse
// the text (not JSON, or a number beyond a double's range).
std::optional<std::vector<JsonField>> read_json_fields(std::string_view text, const std::vector<JsonPath>& paths);

}  // namespace shim
