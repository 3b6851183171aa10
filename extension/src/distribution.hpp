// Whether vox's tables are distributed by Citus (vox.distribute()), which
// changes how an event's statements are shaped (handler.cpp).
#pragma once

#include <optional>
#include <string>

extern "C" {
#include "postgres.h"
}

namespace vox {

// Read from Citus' catalog once, and again after vox.call_logs' relcache
// entry is invalidated (distributing a table invalidates it). Inside SPI.
bool tables_distributed();

// The vox table whose Citus shard, in schema vox, SHARD names
// (vox.trigger_table()); SHARD itself when it is none. Inside SPI.
std::optional<std::string> table_of_shard(const std::string& shard);

// Whether this node is a Citus worker (vox.on_citus_worker()). Inside SPI.
bool on_citus_worker();

// Lets the rest of the transaction run distributed statements inside a
// trigger on a shard, which Citus refuses by default: vox's trigger on the
// coordinator's copy of a reference table applies events to tenant shards.
void allow_nested_distributed_execution();

}  // namespace vox

namespace vox {

// From _PG_init. Citus delegates a call of a distributed function to the
// node holding its distribution argument's shard, and crashes the backend
// when that argument is NULL (it hashes a null pointer). The hook, which runs
// before Citus' planner, hands a call of a function vox.distribute()
// delegates that names no org (vox.handle_event's unsigned route) a volatile
// NULL, vox.no_signer(), which Citus does not delegate.
void install_planner_hook();

}  // namespace vox
