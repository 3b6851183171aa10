// The feed mode: events through vox while one live-feed client per org
// (kOrgs of them) reads vox-relay, against the same events with no client,
// in alternating rounds; with NOTIFY on (the relay wakes at once) and off
// (it polls). Each event's latency runs from its transaction's commit
// (track_commit_timestamp) to its arrival at the client, on one clock.
#pragma once

#include <string>
#include <vector>

#include "db.hpp"
#include "drivers.hpp"
#include "stats.hpp"
#include "workload.hpp"

namespace bench {

struct FeedSettings {
  std::string relay_binary;
  std::string relay_database_url;  // as a role granted vox_relay
  int relay_port = 0;
  std::string relay_log;
  int concurrency = 8;
  double max_seconds = 10;
  int rounds = 3;
};

struct FeedRun {
  bool notify = false;
  RunResult without_clients;  // the baseline
  RunResult with_clients;
  RunResult delivery;         // latencies_us: commit to receipt; events: delivered
  double relay_cpu_seconds = 0;
};

// Throws when a client misses an event or gets one twice: figures of a feed
// that loses events would mean nothing.
std::vector<FeedRun> feed_check(Connection& admin, const Target& target, const FeedSettings& settings,
                                const std::vector<Delivery>& deliveries);

void print_feed(const std::vector<FeedRun>& runs, const FeedSettings& settings);

}  // namespace bench
