// Errors raised by vox's plain C++ code. Each carries the SQLSTATE the entry
// guard reports, so no error ever reaches the client as the generic XX000.
#pragma once

#include <stdexcept>
#include <string>

namespace vox {

namespace sqlstate {
inline constexpr const char* kInvalidParameterValue = "22023";
inline constexpr const char* kNullValueNotAllowed = "22004";
inline constexpr const char* kStringDataRightTruncation = "22001";
inline constexpr const char* kDatetimeFieldOverflow = "22008";
inline constexpr const char* kNumericValueOutOfRange = "22003";
inline constexpr const char* kForeignKeyViolation = "23503";
inline constexpr const char* kExternalRoutineException = "38000";
inline constexpr const char* kTriggerProtocolViolated = "39P01";
inline constexpr const char* kSerializationFailure = "40001";
}  // namespace sqlstate

class SqlError : public std::runtime_error {
 public:
  SqlError(const char* state, const std::string& message) : std::runtime_error(message), state_(state) {}
  const char* sqlstate() const noexcept { return state_; }

 private:
  const char* state_;  // always one of the constants above
};

// Malformed input: the message names the field, as DESIGN §2 inv. 6 asks.
inline SqlError invalid_field(const std::string& field, const std::string& problem,
                              const char* state = sqlstate::kInvalidParameterValue) {
  return SqlError(state, "invalid " + field + ": " + problem);
}

}  // namespace vox
