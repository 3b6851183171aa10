// SPI access for vox: statements prepared once per backend and kept (DESIGN
// §5), parameters built from plain C++ values, and results read back. Every
// PostgreSQL call goes through pg_call.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "event.hpp"
#include "pg_bridge.hpp"

extern "C" {
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"
}

namespace vox {

struct Uuid {
  std::array<unsigned char, UUID_LEN> bytes{};
  std::string to_string() const;
  bool operator==(const Uuid& other) const { return bytes == other.bytes; }
};

// A statement whose plan is prepared on first use and kept for the backend's
// life. Plans survive DROP/CREATE EXTENSION: PostgreSQL's plan cache
// re-analyses them when the tables they name are replaced.
class Statement {
 public:
  static constexpr int kMaxParams = 20;
  // How the plan is made: once for every value (generic), or for each
  // execution's values (custom).
  enum class Planning { kGeneric, kCustom };
  template <size_t N>
  Statement(const char* sql, const Oid (&types)[N], Planning planning = Planning::kGeneric)
      : sql_(sql), nargs_(N), planning_(planning) {
    static_assert(N <= kMaxParams, "too many parameters");
    for (size_t i = 0; i < N; ++i) types_[i] = types[i];
  }
  explicit Statement(const char* sql) : sql_(sql), nargs_(0) {}

  SPIPlanPtr plan();
  int nargs() const { return nargs_; }

 private:
  std::string sql_;
  int nargs_;
  Planning planning_ = Planning::kGeneric;
  Oid types_[kMaxParams] = {};
  SPIPlanPtr plan_ = nullptr;
};

// Parameters of one execution, in order.
class Params {
 public:
  Params& string(const std::optional<std::string>& value);
  Params& uuid(const Uuid& value);
  Params& uuid(const std::optional<Uuid>& value);
  Params& timestamp(const std::optional<Timestamp>& value);
  Params& boolean(bool value);
  Params& int2(int16_t value);
  Params& int8(int64_t value);
  Params& jsonb(Jsonb* value);  // nullptr for SQL NULL
  // Sets parameter INDEX (from 0) anew, through the setter of its type.
  template <typename Value>
  Params& set(int index, Params& (Params::*setter)(Value), Value value) {
    const int end = count_;
    count_ = index;
    (this->*setter)(value);
    count_ = end;
    return *this;
  }

  Datum* values() { return values_; }
  const char* nulls() const { return nulls_; }
  int count() const { return count_; }

 private:
  Params& push(Datum value, bool is_null);
  Datum values_[Statement::kMaxParams] = {};
  char nulls_[Statement::kMaxParams] = {};
  Uuid uuids_[Statement::kMaxParams];  // uuid parameters point into these
  int count_ = 0;
};

// The rows of the last execution; valid until the next one.
class Rows {
 public:
  uint64 count() const { return count_; }
  std::optional<Uuid> uuid(uint64 row, int column) const;
  std::optional<std::string> string(uint64 row, int column) const;
  int64_t int8(uint64 row, int column) const;
  int32_t int4(uint64 row, int column) const;
  bool boolean(uint64 row, int column) const;  // NULL reads as false
  Timestamp timestamp(uint64 row, int column) const;
  Datum datum(uint64 row, int column, bool& is_null) const;

 private:
  friend Rows execute(Statement&, Params&, long);
  SPITupleTable* table_ = nullptr;
  uint64 count_ = 0;
};

// Runs the statement; limit 0 means all rows. The previous execution's rows
// are freed.
Rows execute(Statement& statement, Params& params, long limit = 0);

// Drops the reference to the last result without freeing it, for when
// PostgreSQL freed it already (a rolled-back subtransaction, SPI_finish).
void forget_results();

void spi_connect();
void spi_finish();

// jsonb from JSON text built by vox (never from caller input).
Jsonb* jsonb_from_text(const std::string& json);

}  // namespace vox
