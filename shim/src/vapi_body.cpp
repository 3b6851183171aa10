#include "vapi_body.hpp"

#include <nlohmann/json.hpp>

#include "json_fields.hpp"

namespace shim {

namespace {

constexpr size_t kEscapeLength = 6;  // \uXXXX

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of the \uXXXX escape at pos, or -1 if there is none.
long code_unit_at(const std::string& body, size_t pos) {
  if (pos + kEscapeLength > body.size() || body[pos] != '\\' || body[pos + 1] != 'u') return -1;
  long unit = 0;
  for (size_t i = pos + 2; i < pos + kEscapeLength; ++i) {
    const int digit = hex_value(body[i]);
    if (digit < 0) return -1;
    unit = unit * 16 + digit;
  }
  return unit;
}

bool is_high_surrogate(long unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
bool is_low_surrogate(long unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

}  // namespace

int repair_json_escapes(std::string& body) {
  int repaired = 0;
  // Backslashes occur only inside strings, each starting one escape: walking
  // escape by escape never mistakes an escaped backslash's "u" for an escape.
  for (size_t pos = body.find('\\'); pos != std::string::npos; pos = body.find('\\', pos)) {
    const long unit = code_unit_at(body, pos);
    if (unit < 0) {
      pos += 2;  // a two-character escape (\\, \", \n, ...) or malformed: left to the parser
      continue;
    }
    if (is_high_surrogate(unit) && is_low_surrogate(code_unit_at(body, pos + kEscapeLength))) {
      pos += 2 * kEscapeLength;  // a valid pair
      continue;
    }
    if (unit == 0 || is_high_surrogate(unit) || is_low_surrogate(unit)) {
      body.replace(pos, kEscapeLength, "\\ufffd");
      ++repaired;
    }
    pos += kEscapeLength;
  }
  return repaired;
}

VapiEvent read_vapi_event(std::string_view body) {
  static const std::vector<JsonPath> paths = {{},     {"message"}, {"message", "type"}, {"message", "call", "id"},
                                              {"type"}, {"call", "id"}};
  const std::optional<std::vector<JsonField>> fields = read_json_fields(body, paths);
  if (!fields) return {};
  VapiEvent event;
  event.json = true;
  event.object = (*fields)[0].type == nlohmann::json::value_t::object;
  const bool envelope = (*fields)[1].type == nlohmann::json::value_t::object;
  const JsonField& type = (*fields)[envelope ? 2 : 4];
  const JsonField& call_id = (*fields)[envelope ? 3 : 5];
  if (type.type == nlohmann::json::value_t::string) event.type = type.string;
  if (call_id.type == nlohmann::json::value_t::string) event.call_id = call_id.string;
  return event;
}

DatabaseAnswer read_database_answer(const std::string& answer) {
  static const std::vector<JsonPath> paths = {{"status"}, {"org_id"}, {"response"}};
  DatabaseAnswer read{{}, {}, answer};
  const std::optional<std::vector<JsonField>> fields = read_json_fields(answer, paths);
  if (!fields) return read;
  const auto string_at = [&](size_t i) {
    return (*fields)[i].type == nlohmann::json::value_t::string ? (*fields)[i].string : std::string();
  };
  read.status = string_at(0);
  read.org_id = string_at(1);
  // Only assistant-request and tool-calls answer with one: parsed whole then.
  if ((*fields)[2].type == nlohmann::json::value_t::object) read.body = nlohmann::json::parse(answer)["response"].dump();
  return read;
}

}  // namespace shim
