#include "distribution.hpp"

#include <algorithm>
#include <iterator>

#include "pg_bridge.hpp"
#include "spi.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "commands/extension.h"
#include "catalog/pg_namespace_d.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/parse_func.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

namespace vox {

namespace {

enum class Known { kUnknown, kLocal, kDistributed };
Known known = Known::kUnknown;
Oid call_logs = InvalidOid;

void forget(Datum, Oid relation) {
  if (relation == InvalidOid || relation == call_logs) known = Known::kUnknown;
}

Statement call_logs_distributed(
    "SELECT 1 FROM pg_catalog.pg_dist_partition WHERE logicalrelid = 'vox.call_logs'::pg_catalog.regclass");

Statement shard_table("SELECT vox.trigger_table('vox', $1)", {TEXTOID});

}  // namespace

std::optional<std::string> table_of_shard(const std::string& shard) {
  Params params;
  params.string(shard);
  return execute(shard_table, params, 1).string(0, 1);
}

Statement citus_worker("SELECT vox.on_citus_worker()");

bool on_citus_worker() {
  Params none;
  return execute(citus_worker, none, 1).boolean(0, 1);
}

void allow_nested_distributed_execution() {
  pg_call([]() {
    set_config_option("citus.allow_nested_distributed_execution", "on", PGC_USERSET, PGC_S_SESSION, GUC_ACTION_LOCAL,
                      true, 0, false);
  });
}

bool tables_distributed() {
  if (known != Known::kUnknown) return known == Known::kDistributed;
  static bool registered = false;
  if (!registered) {
    pg_call([]() { CacheRegisterRelcacheCallback(forget, 0); });
    registered = true;
  }
  const bool citus = pg_call([]() {
    call_logs = get_relname_relid("call_logs", get_namespace_oid("vox", true));
    return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE));
  });
  Params none;
  known = citus && execute(call_logs_distributed, none, 1).count() > 0 ? Known::kDistributed : Known::kLocal;
  return known == Known::kDistributed;
}

namespace {

planner_hook_type previous_planner = nullptr;

// The functions vox.distribute() delegates by their first argument, the org
// (vox.handle_event(uuid, jsonb, text), vox.register_outbound_call(uuid,
// text, uuid, uuid, jsonb), vox.apply_resolved(uuid, jsonb, text) and the
// live feed's vox.feed_start(uuid, integer), vox.feed_read(uuid, text,
// integer) and vox.feed_transcript(uuid, text, integer)), and
// vox.no_signer(); looked up again after any function changes (CREATE or
// DROP EXTENSION vox or citus).
bool functions_known = false;
Oid delegated[6] = {InvalidOid, InvalidOid, InvalidOid, InvalidOid, InvalidOid, InvalidOid};
Oid no_signer = InvalidOid;

void forget_functions(Datum, int, uint32) { functions_known = false; }

Oid vox_function(const char* name, int nargs, Oid* types) {
  return LookupFuncName(list_make2(makeString(pstrdup("vox")), makeString(pstrdup(name))), nargs, types, true);
}

// Plain PostgreSQL calls only: this runs inside the planner, where an error
// is a PostgreSQL error and nothing here needs unwinding.
void look_up_functions() {
  Oid handle_event_args[] = {UUIDOID, JSONBOID, TEXTOID};
  Oid register_args[] = {UUIDOID, TEXTOID, UUIDOID, UUIDOID, JSONBOID};
  Oid feed_start_args[] = {UUIDOID, INT4OID};
  Oid feed_read_args[] = {UUIDOID, TEXTOID, INT4OID};
  // Without Citus nothing delegates: calls stay as written.
  const bool citus = OidIsValid(get_extension_oid("citus", true));
  delegated[0] = citus ? vox_function("handle_event", 3, handle_event_args) : InvalidOid;
  delegated[1] = citus ? vox_function("register_outbound_call", 5, register_args) : InvalidOid;
  delegated[2] = citus ? vox_function("apply_resolved", 3, handle_event_args) : InvalidOid;
  delegated[3] = citus ? vox_function("feed_start", 2, feed_start_args) : InvalidOid;
  delegated[4] = citus ? vox_function("feed_read", 3, feed_read_args) : InvalidOid;
  delegated[5] = citus ? vox_function("feed_transcript", 3, feed_read_args) : InvalidOid;
  no_signer = vox_function("no_signer", 0, nullptr);
  functions_known = true;
}

bool is_null_argument(Node* argument, ParamListInfo params) {
  argument = strip_implicit_coercions(argument);
  if (IsA(argument, Const)) return castNode(Const, argument)->constisnull;
  if (!IsA(argument, Param) || params == nullptr) return false;
  const Param* param = castNode(Param, argument);
  if (param->paramkind != PARAM_EXTERN || param->paramid < 1 || param->paramid > params->numParams) return false;
  ParamExternData workspace;
  const ParamExternData* value = params->paramFetch ? params->paramFetch(params, param->paramid, false, &workspace)
                                                    : &params->params[param->paramid - 1];
  return value->isnull;
}

// The call a query is, in the two forms Citus delegates: SELECT f(...) and
// SELECT ... FROM f(...).
FuncExpr* sole_call(Query* query) {
  if (query->commandType != CMD_SELECT) return nullptr;
  Node* expression = nullptr;
  if (query->rtable == NIL && list_length(query->targetList) == 1) {
    expression = reinterpret_cast<Node*>(linitial_node(TargetEntry, query->targetList)->expr);
  } else if (list_length(query->rtable) == 1) {
    const RangeTblEntry* entry = linitial_node(RangeTblEntry, query->rtable);
    if (entry->rtekind == RTE_FUNCTION && list_length(entry->functions) == 1)
      expression = linitial_node(RangeTblFunction, entry->functions)->funcexpr;
  }
  return expression != nullptr && IsA(expression, FuncExpr) ? castNode(FuncExpr, expression) : nullptr;
}

PlannedStmt* vox_planner(Query* query, const char* text, int options, ParamListInfo params) {
  FuncExpr* call = sole_call(query);
  if (call != nullptr && call->args != NIL) {
    if (!functions_known) look_up_functions();
    if (OidIsValid(no_signer) && OidIsValid(call->funcid) &&
        std::find(std::begin(delegated), std::end(delegated), call->funcid) != std::end(delegated) &&
        is_null_argument(static_cast<Node*>(linitial(call->args)), params))
      linitial(call->args) = makeFuncExpr(no_signer, UUIDOID, NIL, InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
  }
  return previous_planner ? previous_planner(query, text, options, params)
                          : standard_planner(query, text, options, params);
}

}  // namespace

void install_planner_hook() {
  previous_planner = planner_hook;
  planner_hook = vox_planner;
  CacheRegisterSyscacheCallback(PROCOID, forget_functions, 0);
}

}  // namespace vox
