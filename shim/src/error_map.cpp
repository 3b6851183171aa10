#include "error_map.hpp"

namespace shim {

namespace {

bool in_class(std::string_view sqlstate, std::string_view sqlclass) { return sqlstate.substr(0, 2) == sqlclass; }

}  // namespace

int http_status_for_sqlstate(std::string_view sqlstate) {
  if (in_class(sqlstate, "22")) return 400;
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "57014" || sqlstate == "55P03" ||
      in_class(sqlstate, "08") || in_class(sqlstate, "53") || sqlstate == "57P01" || sqlstate == "57P02" ||
      sqlstate == "57P03")
    return 503;
  return 500;
}

bool is_retryable_sqlstate(std::string_view sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01" || in_class(sqlstate, "08") || sqlstate == "57P01" ||
         sqlstate == "57P02" || sqlstate == "57P03" || sqlstate == "26000";
}

}  // namespace shim
