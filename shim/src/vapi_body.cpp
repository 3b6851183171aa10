#include "vapi_body.hpp"

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

std::string vapi_response_body(const nlohmann::json& outcome, const std::string& answer) {
  if (outcome.is_object()) {
    const auto response = outcome.find("response");
    if (response != outcome.end() && response->is_object()) return response->dump();
  }
  return answer;
}

}  // namespace shim
