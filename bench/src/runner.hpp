// Runs one mode: one thread per connection, each with its calls' deliveries,
// timing every delivery.
#pragma once

#include <string>
#include <vector>

#include "drivers.hpp"
#include "stats.hpp"
#include "workload.hpp"

namespace bench {

// Stops taking new deliveries after max_seconds (the result says so).
// Throws the first error any thread met.
RunResult run_mode(const std::string& mode, const Target& target, const std::vector<Delivery>& deliveries,
                   int concurrency, bool synchronous_commit, double max_seconds);

}  // namespace bench
