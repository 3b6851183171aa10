#include "spi.hpp"

#include <cstdio>

extern "C" {
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

namespace vox {

std::string Uuid::to_string() const {
  static const char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(hex[bytes[i] >> 4]);
    out.push_back(hex[bytes[i] & 0xf]);
  }
  return out;
}

SPIPlanPtr Statement::plan() {
  if (plan_ == nullptr) {
    const char* sql = sql_.c_str();
    int nargs = nargs_;
    Oid* types = types_;
    // Generic plans: every statement is a keyed lookup or upsert whose plan
    // does not depend on the values, so planning once beats re-planning each
    // call (the default for the first executions and whenever custom plans
    // look cheaper). Custom where a statement says so.
    const int options = planning_ == Planning::kCustom ? CURSOR_OPT_CUSTOM_PLAN : CURSOR_OPT_GENERIC_PLAN;
    plan_ = pg_call([&]() {
      SPIPlanPtr prepared = SPI_prepare_cursor(sql, nargs, types, options);
      if (prepared == nullptr) VOX_SPI_ERROR("vox: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
      if (SPI_keepplan(prepared) != 0) VOX_SPI_ERROR("vox: SPI_keepplan failed");
      return prepared;
    });
  }
  return plan_;
}

Params& Params::push(Datum value, bool is_null) {
  if (count_ >= Statement::kMaxParams)
    throw SqlError(sqlstate::kExternalRoutineException, "vox: too many statement parameters");
  values_[count_] = value;
  nulls_[count_] = is_null ? 'n' : ' ';
  ++count_;
  return *this;
}

Params& Params::string(const std::optional<std::string>& value) {
  if (!value) return push(0, true);
  const char* data = value->data();
  const int length = static_cast<int>(value->size());
  ::text* datum = pg_call([&]() { return cstring_to_text_with_len(data, length); });
  return push(PointerGetDatum(datum), false);
}

Params& Params::uuid(const Uuid& value) {
  if (count_ >= Statement::kMaxParams)
    throw SqlError(sqlstate::kExternalRoutineException, "vox: too many statement parameters");
  uuids_[count_] = value;
  return push(UUIDPGetDatum(reinterpret_cast<pg_uuid_t*>(uuids_[count_].bytes.data())), false);
}

Params& Params::uuid(const std::optional<Uuid>& value) { return value ? uuid(*value) : push(0, true); }

Params& Params::timestamp(const std::optional<Timestamp>& value) {
  return value ? push(TimestampTzGetDatum(*value), false) : push(0, true);
}

Params& Params::boolean(bool value) { return push(BoolGetDatum(value), false); }

Params& Params::int2(int16_t value) { return push(Int16GetDatum(value), false); }

Params& Params::int8(int64_t value) { return push(Int64GetDatum(value), false); }

Params& Params::jsonb(Jsonb* value) { return value ? push(JsonbPGetDatum(value), false) : push(0, true); }

namespace {

// The result of the last execution. Freed when the next one starts, so a
// loop over many events keeps one result alive, not all of them.
SPITupleTable* last_result = nullptr;

}  // namespace

Rows execute(Statement& statement, Params& params, long limit) {
  if (params.count() != statement.nargs())
    throw SqlError(sqlstate::kExternalRoutineException, "vox: statement parameter count mismatch");
  SPIPlanPtr plan = statement.plan();
  Datum* values = params.values();
  const char* nulls = params.nulls();
  SPITupleTable* previous = last_result;
  last_result = nullptr;
  // SPI leaves its own procedure context current after each execution; the
  // caller's (a per-event context during replay) is restored.
  MemoryContext caller_context = CurrentMemoryContext;
  pg_call([&]() {
    if (previous) SPI_freetuptable(previous);
    int rc = SPI_execute_plan(plan, values, nulls, false, limit);
    if (rc < 0) VOX_SPI_ERROR("vox: SPI_execute_plan failed: %s", SPI_result_code_string(rc));
  });
  MemoryContextSwitchTo(caller_context);
  Rows rows;
  rows.table_ = last_result = SPI_tuptable;
  rows.count_ = SPI_processed;
  return rows;
}

void forget_results() { last_result = nullptr; }

Datum Rows::datum(uint64 row, int column, bool& is_null) const {
  if (table_ == nullptr || row >= count_) throw SqlError(sqlstate::kExternalRoutineException, "vox: row out of range");
  HeapTuple tuple = table_->vals[row];
  TupleDesc desc = table_->tupdesc;
  bool null_flag = false;
  Datum value = pg_call([&]() { return SPI_getbinval(tuple, desc, column, &null_flag); });
  is_null = null_flag;
  return value;
}

std::optional<Uuid> Rows::uuid(uint64 row, int column) const {
  bool null_flag = false;
  Datum value = datum(row, column, null_flag);
  if (null_flag) return std::nullopt;
  Uuid out;
  memcpy(out.bytes.data(), DatumGetUUIDP(value)->data, UUID_LEN);
  return out;
}

std::optional<std::string> Rows::string(uint64 row, int column) const {
  bool null_flag = false;
  Datum value = datum(row, column, null_flag);
  if (null_flag) return std::nullopt;
  char* cstring = pg_call([&]() { return TextDatumGetCString(value); });
  return std::string(cstring);
}

int64_t Rows::int8(uint64 row, int column) const {
  bool null_flag = false;
  Datum value = datum(row, column, null_flag);
  return null_flag ? 0 : DatumGetInt64(value);
}

int32_t Rows::int4(uint64 row, int column) const {
  bool null_flag = false;
  Datum value = datum(row, column, null_flag);
  return null_flag ? 0 : DatumGetInt32(value);
}

bool Rows::boolean(uint64 row, int column) const {
  bool null_flag = false;
  Datum value = datum(row, column, null_flag);
  return !null_flag && DatumGetBool(value);
}

Timestamp Rows::timestamp(uint64 row, int column) const {
  bool null_flag = false;
  Datum value = datum(row, column, null_flag);
  return null_flag ? 0 : DatumGetTimestampTz(value);
}

void spi_connect() {
  forget_results();  // a result of an earlier connection is gone with it
  pg_call([]() {
    if (SPI_connect() != SPI_OK_CONNECT) VOX_SPI_ERROR("vox: SPI_connect failed");
  });
}

void spi_finish() {
  forget_results();
  pg_call([]() {
    if (SPI_finish() != SPI_OK_FINISH) VOX_SPI_ERROR("vox: SPI_finish failed");
  });
}

Jsonb* jsonb_from_text(const std::string& json) {
  const char* cstring = json.c_str();
  return pg_call([&]() { return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(cstring))); });
}

}  // namespace vox
