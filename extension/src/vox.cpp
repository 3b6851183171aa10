// SQL-callable entry points. Each is a thin extern "C" function that runs its
// C++ body through guard(), which turns any C++ exception into a PostgreSQL
// error after unwinding (DESIGN §5).
#include "distribution.hpp"
#include "event_reader.hpp"
#include "handler.hpp"
#include "maintenance.hpp"
#include "outbox_notifier.hpp"
#include "settings.hpp"
#include "stats.hpp"

extern "C" {
#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

PG_MODULE_MAGIC;

void _PG_init(void);

PG_FUNCTION_INFO_V1(vox_handle_event);
PG_FUNCTION_INFO_V1(vox_handle_event_for_org);
PG_FUNCTION_INFO_V1(vox_apply_resolved);
PG_FUNCTION_INFO_V1(vox_replay_parked);
PG_FUNCTION_INFO_V1(vox_register_outbound_call);
PG_FUNCTION_INFO_V1(vox_replay_parked_trigger);
PG_FUNCTION_INFO_V1(vox_cleanup);
PG_FUNCTION_INFO_V1(vox_event_counts);
PG_FUNCTION_INFO_V1(vox_remove_expired);
PG_FUNCTION_INFO_V1(vox_replay_parked_batch);
PG_FUNCTION_INFO_V1(vox_record_maintenance_run);
PG_FUNCTION_INFO_V1(vox_queue_max_attempts);
PG_FUNCTION_INFO_V1(vox_recording_retention);
PG_FUNCTION_INFO_V1(vox_notify_enabled);
}

// Settings and the commit hook always; the maintenance worker, the event
// counters' and the notifier's shared memory only when loaded through shared_preload_libraries.
extern "C" void _PG_init(void) {
  vox::define_settings(process_shared_preload_libraries_in_progress);
  vox::init_outbox_notifier(process_shared_preload_libraries_in_progress);
  vox::install_planner_hook();
  if (!process_shared_preload_libraries_in_progress) return;
  vox::request_stats_memory();
  vox::register_maintenance_worker();
}

namespace {

using namespace vox;

constexpr size_t kMaxDeliveryIdLength = 256;

std::string text_argument(FunctionCallInfo fcinfo, int index) {
  text* value = pg_call([&]() { return PG_GETARG_TEXT_PP(index); });
  return std::string(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
}

Jsonb* jsonb_argument(FunctionCallInfo fcinfo, int index) {
  return pg_call([&]() { return PG_GETARG_JSONB_P(index); });
}

std::optional<Uuid> uuid_argument(FunctionCallInfo fcinfo, int index) {
  if (PG_ARGISNULL(index)) return std::nullopt;
  Uuid out;
  memcpy(out.bytes.data(), PG_GETARG_UUID_P(index)->data, UUID_LEN);
  return out;
}

Datum jsonb_result(const Outcome& outcome) { return JsonbPGetDatum(jsonb_from_text(outcome.to_json())); }

// Both forms of vox.handle_event, and vox.apply_resolved: the payload and
// the delivery id start at argument `first`; the signing org, when there is
// one, precedes them. apply_resolved's events were counted where handle_event
// took them.
Datum handle_event(FunctionCallInfo fcinfo, int first, const std::optional<Uuid>& signer,
                   Unresolved unresolved = Unresolved::kPark) {
  if (PG_ARGISNULL(first)) throw invalid_field("payload", "required", sqlstate::kNullValueNotAllowed);
  Jsonb* payload = jsonb_argument(fcinfo, first);
  std::optional<std::string> delivery_id;
  if (!PG_ARGISNULL(first + 1)) {
    delivery_id = text_argument(fcinfo, first + 1);
    if (delivery_id->empty() || delivery_id->size() > kMaxDeliveryIdLength)
      throw invalid_field("delivery_id", "expected 1 to " + std::to_string(kMaxDeliveryIdLength) + " bytes");
  }
  spi_connect();
  try {
    const Outcome outcome = apply_event(payload, delivery_id, signer, unresolved);
    spi_finish();
    if (unresolved == Unresolved::kRetry) return jsonb_result(outcome);
    const char* type = counted_type(payload);
    count_event(type, outcome.status);
    if (outcome.notes > 0) count_event(type, "noted");
    return jsonb_result(outcome);
  } catch (const SqlError& e) {
    if (std::string(e.sqlstate()).rfind("22", 0) == 0) count_event(counted_type(payload), "invalid");
    throw;
  } catch (const PgError& e) {
    if (ERRCODE_TO_CATEGORY(e.sqlerrcode()) == ERRCODE_DATA_EXCEPTION) count_event(counted_type(payload), "invalid");
    throw;
  }
}

// Two bigint columns, as the function's OUT parameters declare.
Datum two_bigints(FunctionCallInfo fcinfo, int64_t first, int64_t second) {
  return pg_call([&]() {
    TupleDesc desc;
    if (get_call_result_type(fcinfo, nullptr, &desc) != TYPEFUNC_COMPOSITE)
      ereport(ERROR, errcode(ERRCODE_FEATURE_NOT_SUPPORTED), errmsg("function returning record called in a context "
                                                                     "that cannot accept type record"));
    Datum values[2] = {Int64GetDatum(first), Int64GetDatum(second)};
    bool nulls[2] = {false, false};
    return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
  });
}

int32 positive_int_argument(FunctionCallInfo fcinfo, int index, const char* name) {
  const int32 value = PG_ARGISNULL(index) ? 0 : PG_GETARG_INT32(index);
  if (value < 1) throw invalid_field(name, "expected a positive integer");
  return value;
}

}  // namespace

extern "C" Datum vox_handle_event(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum { return handle_event(fcinfo, 0, std::nullopt); });
}

extern "C" Datum vox_handle_event_for_org(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum { return handle_event(fcinfo, 1, uuid_argument(fcinfo, 0)); });
}

extern "C" Datum vox_apply_resolved(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    const std::optional<Uuid> org_id = uuid_argument(fcinfo, 0);
    if (!org_id) throw invalid_field("org_id", "required", sqlstate::kNullValueNotAllowed);
    return handle_event(fcinfo, 1, org_id, Unresolved::kRetry);
  });
}

extern "C" Datum vox_replay_parked(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    spi_connect();
    const int64_t applied = replay_parked();
    spi_finish();
    return Int64GetDatum(applied);
  });
}

extern "C" Datum vox_register_outbound_call(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    auto org_id = uuid_argument(fcinfo, 0);
    if (!org_id) throw invalid_field("org_id", "required", sqlstate::kNullValueNotAllowed);
    if (PG_ARGISNULL(1)) throw invalid_field("vapi_call_id", "required", sqlstate::kNullValueNotAllowed);
    OutboundCall call{*org_id, text_argument(fcinfo, 1), uuid_argument(fcinfo, 2), uuid_argument(fcinfo, 3), nullptr,
                      false};
    check_id("vapi_call_id", call.vapi_call_id);
    call.metadata = PG_ARGISNULL(4) ? jsonb_from_text("{}") : jsonb_argument(fcinfo, 4);
    call.is_test_call = read_is_test_call(call.metadata);
    spi_connect();
    const Outcome outcome = register_outbound_call(call);
    spi_finish();
    return jsonb_result(outcome);
  });
}

// AFTER ROW trigger on agents and phone numbers; its argument names the
// routing column whose new value parked events may be waiting for.
extern "C" Datum vox_replay_parked_trigger(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    if (!CALLED_AS_TRIGGER(fcinfo))
      throw SqlError(sqlstate::kTriggerProtocolViolated, "vox.replay_parked_trigger() must be called as a trigger");
    TriggerData* trigger = reinterpret_cast<TriggerData*>(fcinfo->context);
    if (!TRIGGER_FIRED_AFTER(trigger->tg_event) || !TRIGGER_FIRED_FOR_ROW(trigger->tg_event) ||
        trigger->tg_trigger->tgnargs != 1)
      throw SqlError(sqlstate::kTriggerProtocolViolated,
                     "vox.replay_parked_trigger() must be an AFTER ROW trigger with one argument");
    // Only vox's own tables: attached to another table it would replay
    // events as vox's owner for rows nobody vouched for.
    const Oid relation = RelationGetRelid(trigger->tg_relation);
    const std::string table = pg_call([&]() { return get_rel_name(relation); });
    const bool vox_table = RelationGetNamespace(trigger->tg_relation) ==
                           pg_call([]() { return get_namespace_oid("vox", false); });
    auto routing_table = [](const std::optional<std::string>& name) {
      return name == "agents" || name == "phone_numbers";
    };
    // On Citus the trigger fires on every node's copy of the reference
    // table, under its shard's name; the coordinator's applies the events.
    bool shard = false;
    if (vox_table && !routing_table(table)) {
      spi_connect();
      shard = routing_table(table_of_shard(table));
      const bool worker = shard && on_citus_worker();
      spi_finish();
      if (worker) return PointerGetDatum(nullptr);
    }
    if (!vox_table || !(shard || routing_table(table)))
      throw SqlError(sqlstate::kTriggerProtocolViolated,
                     "vox.replay_parked_trigger() may only be a trigger of vox.agents or vox.phone_numbers");
    const std::string column = trigger->tg_trigger->tgargs[0];
    ReplayScope scope;
    if (column == "vapi_assistant_id") {
      scope = ReplayScope::kAssistant;
    } else if (column == "vapi_phone_number_id") {
      scope = ReplayScope::kPhoneNumber;
    } else {
      throw SqlError(sqlstate::kTriggerProtocolViolated,
                     "vox.replay_parked_trigger() argument must be vapi_assistant_id or vapi_phone_number_id");
    }
    HeapTuple row = TRIGGER_FIRED_BY_UPDATE(trigger->tg_event) ? trigger->tg_newtuple : trigger->tg_trigtuple;
    TupleDesc desc = trigger->tg_relation->rd_att;
    const char* column_name = column.c_str();
    char* key = pg_call([&]() { return SPI_getvalue(row, desc, SPI_fnumber(desc, column_name)); });
    if (key == nullptr) return PointerGetDatum(nullptr);
    const std::string routing_key = key;
    if (shard) allow_nested_distributed_execution();
    spi_connect();
    replay_parked(scope, routing_key);
    spi_finish();
    return PointerGetDatum(nullptr);
  });
}

extern "C" Datum vox_cleanup(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    const TimestampTz started_at = GetCurrentTimestamp();
    spi_connect();
    Removed removed;
    for (;;) {
      const Removed batch = remove_expired();
      removed.idempotency += batch.idempotency;
      removed.outbox += batch.outbox;
      if (batch.idempotency < kCleanupBatch && batch.outbox < kCleanupBatch) break;
    }
    record_maintenance_run("cleanup", started_at, removed, 0, nullptr);
    spi_finish();
    return JsonbPGetDatum(jsonb_from_text("{\"removed_idempotency\":" + std::to_string(removed.idempotency) +
                                          ",\"removed_outbox\":" + std::to_string(removed.outbox) + "}"));
  });
}

extern "C" Datum vox_event_counts(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    const std::vector<EventCount> counts = event_counts();
    pg_call([&]() {
      InitMaterializedSRF(fcinfo, 0);
      ReturnSetInfo* result = reinterpret_cast<ReturnSetInfo*>(fcinfo->resultinfo);
      for (const EventCount& count : counts) {
        Datum values[4] = {CStringGetTextDatum(count.type), CStringGetTextDatum(count.outcome),
                           Int64GetDatum(int64(count.since_start)), Int64GetDatum(int64(count.last_hour))};
        bool nulls[4] = {false, false, false, false};
        tuplestore_putvalues(result->setResult, result->setDesc, values, nulls);
      }
    });
    return Datum(0);
  });
}

extern "C" Datum vox_remove_expired(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    const int32 max_rows = positive_int_argument(fcinfo, 0, "max_rows");
    spi_connect();
    const Removed removed = remove_expired(max_rows);
    spi_finish();
    return two_bigints(fcinfo, removed.idempotency, removed.outbox);
  });
}

extern "C" Datum vox_replay_parked_batch(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    Sweep sweep;
    sweep.max_events = positive_int_argument(fcinfo, 0, "max_events");
    if (!PG_ARGISNULL(1)) sweep.attempted_before = PG_GETARG_TIMESTAMPTZ(1);
    spi_connect();
    const Replayed replayed = replay_parked(ReplayScope::kAll, "", std::nullopt, sweep);
    spi_finish();
    return two_bigints(fcinfo, replayed.examined, replayed.applied);
  });
}

extern "C" Datum vox_record_maintenance_run(PG_FUNCTION_ARGS) {
  return guard([&]() -> Datum {
    for (int i = 0; i < 4; ++i)
      if (PG_ARGISNULL(i)) throw invalid_field("arguments", "only error may be null", sqlstate::kNullValueNotAllowed);
    Removed removed;
    removed.idempotency = PG_GETARG_INT64(1);
    removed.outbox = PG_GETARG_INT64(2);
    const std::optional<std::string> error =
        PG_ARGISNULL(4) ? std::nullopt : std::optional<std::string>(text_argument(fcinfo, 4));
    spi_connect();
    record_maintenance_run("worker", PG_GETARG_TIMESTAMPTZ(0), removed, PG_GETARG_INT64(3),
                           error ? error->c_str() : nullptr);
    spi_finish();
    PG_RETURN_VOID();
  });
}

// The setting as vox defined it (PGC_SUSET): read in SQL through
// current_setting(), an unprivileged session's placeholder would count.
extern "C" Datum vox_queue_max_attempts(PG_FUNCTION_ARGS) {
  (void)fcinfo;
  PG_RETURN_INT32(setting_queue_max_attempts);
}

// The setting as vox defined it (PGC_SIGHUP), like vox.queue_max_attempts.
extern "C" Datum vox_recording_retention(PG_FUNCTION_ARGS) {
  (void)fcinfo;
  Interval* retention = static_cast<Interval*>(palloc0(sizeof(Interval)));
  retention->time = static_cast<TimeOffset>(setting_recording_retention) * USECS_PER_SEC;
  PG_RETURN_INTERVAL_P(retention);
}

// The setting as vox defined it (PGC_SUSET), the one the handler's NOTIFY
// reads: SQL that adds outbox rows decides as the handler does.
extern "C" Datum vox_notify_enabled(PG_FUNCTION_ARGS) {
  (void)fcinfo;
  PG_RETURN_BOOL(setting_notify);
}
