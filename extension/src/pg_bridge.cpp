#include "pg_bridge.hpp"

#include <cstdio>

namespace vox {

int sqlstate_code(const char* s) { return MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]); }

void record_exception(PendingError& pending) noexcept {
  // Copies into fixed storage: nothing here may allocate or throw.
  try {
    throw;
  } catch (const PgError& e) {
    pending.pg_error = e.data();
  } catch (const SqlError& e) {
    pending.sqlerrcode = sqlstate_code(e.sqlstate());
    std::snprintf(pending.message, sizeof pending.message, "%s", e.what());
  } catch (const std::bad_alloc&) {
    pending.sqlerrcode = ERRCODE_OUT_OF_MEMORY;
    std::snprintf(pending.message, sizeof pending.message, "vox: out of memory");
  } catch (const std::exception& e) {
    pending.sqlerrcode = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
    std::snprintf(pending.message, sizeof pending.message, "vox: %s", e.what());
  } catch (...) {
    pending.sqlerrcode = ERRCODE_EXTERNAL_ROUTINE_EXCEPTION;
    std::snprintf(pending.message, sizeof pending.message, "vox: unknown C++ exception");
  }
}

void raise_pending(const PendingError& pending) {
  if (pending.pg_error) ReThrowError(pending.pg_error);
  ereport(ERROR, (errcode(pending.sqlerrcode), errmsg("%s", pending.message)));
  pg_unreachable();
}

}  // namespace vox
