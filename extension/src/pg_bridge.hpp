// The boundary between PostgreSQL and vox's C++ (DESIGN §5).
//
// - pg_call(fn) runs PostgreSQL code that may ereport. A PostgreSQL error is
//   caught right there and rethrown as a C++ PgError, so a longjmp never
//   crosses a C++ frame with live destructors. The lambdas passed to it must
//   only call PostgreSQL with arguments already computed.
// - guard(fn) wraps every SQL-callable entry. It runs C++ inside try and
//   raises the PostgreSQL error only after the catch block has ended, always
//   with a specific SQLSTATE.
#pragma once

extern "C" {
#include "postgres.h"

#include "fmgr.h"
#include "utils/elog.h"
#include "utils/memutils.h"
}

#include <exception>
#include <new>
#include <type_traits>
#include <utility>

#include "sql_error.hpp"

// A failure of PostgreSQL's own machinery (SPI) that should never happen;
// still reported with a specific SQLSTATE rather than XX000.
#define VOX_SPI_ERROR(...) ereport(ERROR, errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION), errmsg(__VA_ARGS__))

namespace vox {

// A PostgreSQL error caught by pg_call, carried to the entry guard (or to a
// subtransaction rollback) by C++ unwinding.
class PgError : public std::exception {
 public:
  explicit PgError(ErrorData* data) : data_(data) {}
  const char* what() const noexcept override { return data_->message ? data_->message : "PostgreSQL error"; }
  int sqlerrcode() const noexcept { return data_->sqlerrcode; }
  ErrorData* data() const noexcept { return data_; }

 private:
  ErrorData* data_;  // palloc'd in the context that was current at the call
};

template <typename Fn>
auto pg_call(Fn&& fn) -> decltype(fn()) {
  using Result = decltype(fn());
  MemoryContext context = CurrentMemoryContext;
  ErrorData* volatile caught = nullptr;
  if constexpr (std::is_void_v<Result>) {
    PG_TRY();
    { fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(context);
      caught = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (caught) throw PgError(caught);
  } else {
    static_assert(std::is_scalar_v<Result>, "pg_call returns plain values only");
    volatile Result result{};  // volatile: assigned between setjmp and a possible longjmp
    PG_TRY();
    { result = fn(); }
    PG_CATCH();
    {
      MemoryContextSwitchTo(context);
      caught = CopyErrorData();
      FlushErrorState();
    }
    PG_END_TRY();
    if (caught) throw PgError(caught);
    return result;
  }
}

int sqlstate_code(const char* five_chars);

// The error an entry guard raises once C++ has unwound.
struct PendingError {
  ErrorData* pg_error = nullptr;
  int sqlerrcode = 0;
  char message[1024] = {0};
};

void record_exception(PendingError& pending) noexcept;  // call from inside catch (...)
[[noreturn]] void raise_pending(const PendingError& pending);

template <typename Fn>
Datum guard(Fn&& fn) {
  PendingError pending;
  try {
    return fn();
  } catch (...) {
    record_exception(pending);
  }
  raise_pending(pending);
}

}  // namespace vox
