// vox-bench: runs every mode against one server at each concurrency, with
// synchronous_commit on and off, after checking that vox and the PL/pgSQL
// handler leave the same rows; then the live feed, vox through a Citus
// coordinator against the same server, and the scale and memory checks.
// Prints one table. bench/run.sh starts the servers and the shim's build;
// see --help.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "database.hpp"
#include "db.hpp"
#include "drivers.hpp"
#include "proc.hpp"
#include "runner.hpp"
#include "feed.hpp"
#include "server_process.hpp"
#include "stats.hpp"
#include "workload.hpp"

namespace bench {
namespace {

struct Options {
  std::string conninfo = "dbname=bench";
  std::string shim_conninfo;  // the shim's database URL (role vox_shim)
  std::string shim_binary;    // none: no http mode
  int shim_port = 57080;
  std::string shim_log = "vox-shim.log";
  std::string relay_binary;    // none: no feed mode
  std::string relay_conninfo;  // the relay's database URL (a role granted vox_relay)
  int relay_port = 57081;
  std::string relay_log = "vox-relay.log";
  std::string citus_conninfo;  // a Citus coordinator's database, vox distributed; none: no citus mode
  std::vector<int> concurrency = {1, 8, 32};
  std::vector<std::string> modes = {"floor", "vox", "vox-notify", "plpgsql", "client", "http", "feed", "citus"};
  uint64_t seed = 42;
  int calls = 2000;         // per run
  int check_calls = 300;    // equality check
  double max_seconds = 10;  // per round
  int rounds = 3;
  long scale_calls = 1000000;
  long memory_events = 1000000;
};

const char* const kUsage = R"(usage: vox-bench [options]
  --conninfo=S        the bench database, as a superuser (default dbname=bench)
  --shim-binary=PATH  vox-shim to start for the http mode (none: http skipped)
  --shim-conninfo=S   the shim's database URL (role vox_shim)
  --shim-port=N       its port on 127.0.0.1 (57080)
  --shim-log=PATH     its log (vox-shim.log)
  --relay-binary=PATH vox-relay to start for the feed mode (none: feed skipped)
  --relay-conninfo=S  the relay's database URL (a role granted vox_relay)
  --relay-port=N      its port on 127.0.0.1 (57081)
  --relay-log=PATH    its log (vox-relay.log)
  --citus-conninfo=S  a Citus coordinator's database where vox is distributed
                      (vox.distribute()), as a superuser (none: citus skipped)
  --concurrency=1,8,32
  --modes=floor,vox,vox-notify,plpgsql,client,http,feed,citus
                      feed: events through vox at the largest concurrency up
                      to 8 while one live-feed client per org reads vox-relay,
                      against the same without clients, NOTIFY on and off
                      citus: vox's unsigned route (the vox mode's) and its
                      signed one (vox-shim's, vox.handle_event(org, payload))
                      through the coordinator of --citus-conninfo and against
                      this server, at every concurrency, synchronous_commit on
  --seed=N            workload seed (42)
  --calls=N           calls per run, ~16 deliveries each (2000)
  --check-calls=N     calls of the vox/plpgsql equality check (300)
  --max-seconds=S     a round stops taking events after S seconds (10)
  --rounds=N          every run is N rounds, alternating with the other modes'
                      rounds, so that a slow spell of a shared disk or CPU hits
                      every mode alike (3)
  --scale-calls=N     calls stored before the scale check (1000000; 0: skip)
  --memory-events=N   events of the backend memory check (1000000; 0: skip)
)";

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  for (std::string part; std::getline(stream, part, ',');)
    if (!part.empty()) parts.push_back(part);
  return parts;
}

Options parse(int argc, char** argv) {
  Options o;
  const std::map<std::string, std::function<void(const std::string&)>> setters = {
      {"conninfo", [&](const std::string& v) { o.conninfo = v; }},
      {"shim-binary", [&](const std::string& v) { o.shim_binary = v; }},
      {"shim-conninfo", [&](const std::string& v) { o.shim_conninfo = v; }},
      {"shim-port", [&](const std::string& v) { o.shim_port = std::stoi(v); }},
      {"shim-log", [&](const std::string& v) { o.shim_log = v; }},
      {"relay-binary", [&](const std::string& v) { o.relay_binary = v; }},
      {"relay-conninfo", [&](const std::string& v) { o.relay_conninfo = v; }},
      {"relay-port", [&](const std::string& v) { o.relay_port = std::stoi(v); }},
      {"relay-log", [&](const std::string& v) { o.relay_log = v; }},
      {"citus-conninfo", [&](const std::string& v) { o.citus_conninfo = v; }},
      {"concurrency",
       [&](const std::string& v) {
         o.concurrency.clear();
         for (const std::string& c : split(v)) o.concurrency.push_back(std::stoi(c));
       }},
      {"modes", [&](const std::string& v) { o.modes = split(v); }},
      {"seed", [&](const std::string& v) { o.seed = std::stoull(v); }},
      {"calls", [&](const std::string& v) { o.calls = std::stoi(v); }},
      {"check-calls", [&](const std::string& v) { o.check_calls = std::stoi(v); }},
      {"max-seconds", [&](const std::string& v) { o.max_seconds = std::stod(v); }},
      {"rounds", [&](const std::string& v) { o.rounds = std::max(1, std::stoi(v)); }},
      {"scale-calls", [&](const std::string& v) { o.scale_calls = std::stol(v); }},
      {"memory-events", [&](const std::string& v) { o.memory_events = std::stol(v); }},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    const size_t equals = arg.find('=');
    if (arg.rfind("--", 0) != 0 || equals == std::string::npos) throw std::invalid_argument("bad argument " + arg);
    const std::string name = arg.substr(2, equals - 2), value = arg.substr(equals + 1);
    auto it = setters.find(name);
    if (it == setters.end()) throw std::invalid_argument("unknown option --" + name);
    it->second(value);
  }
  return o;
}

void progress(const std::string& line) { std::cerr << "[bench] " << line << std::endl; }

std::string fixed(double value, int decimals = 0) {
  char out[64];
  std::snprintf(out, sizeof out, "%.*f", decimals, value);
  return out;
}

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

int distinct_calls(const std::vector<Delivery>& deliveries) {
  std::set<int> calls;
  for (const Delivery& delivery : deliveries) calls.insert(delivery.call);
  return static_cast<int>(calls.size());
}

// A run that applied its whole workload left one log per call, nothing
// parked, and (floor) one row per event: otherwise the figures mean nothing.
void verify_run(Connection& db, const RunResult& run, const std::vector<Delivery>& deliveries) {
  if (run.capped) return;
  if (run.mode == "floor") {
    if (count_rows(db, "bench_floor") != run.events) throw std::runtime_error("floor: rows missing");
    return;
  }
  const long logs = count_rows(db, "vox.call_logs"), parked = count_rows(db, "vox.parked_events");
  if (logs != distinct_calls(deliveries) || parked != 0)
    throw std::runtime_error(run.mode + ": " + std::to_string(logs) + " call logs for " +
                             std::to_string(distinct_calls(deliveries)) + " calls, " + std::to_string(parked) +
                             " parked");
}

// CPU time of the backends that `where` selects from pg_stat_activity (and
// of process `also`, when given), by process.
std::map<int, double> cpu_of(Connection& db, const std::string& where, int also = 0) {
  std::map<int, double> cpu;
  if (also) cpu[also] = cpu_seconds(also);
  Result backends = db.exec("SELECT pid FROM pg_stat_activity WHERE " + where);
  for (int i = 0; i < backends.rows(); ++i) {
    const int pid = static_cast<int>(backends.integer(i, 0));
    cpu[pid] = cpu_seconds(pid);
  }
  return cpu;
}

// The processes that work for a mode beside the connections' backends: the
// shim and its pool's backends (http), vox's notifier (vox-notify).
std::map<int, double> helpers_cpu(Connection& db, const std::string& mode, ServerProcess* shim) {
  if (mode == "http") return cpu_of(db, "application_name = 'vox-shim'", shim->pid());
  if (mode == "vox-notify") return cpu_of(db, "backend_type = 'vox notifier'");
  return {};
}

// What the processes of `after` used since `before` (a pool connection opened
// in between started from nothing).
double cpu_used(const std::map<int, double>& before, const std::map<int, double>& after) {
  double used = 0;
  for (const auto& [pid, seconds] : after) {
    auto it = before.find(pid);
    used += seconds - (it == before.end() ? 0 : it->second);
  }
  return used;
}

void set_synchronous_commit(Connection& db, bool on) {
  // ALTER SYSTEM and a reload reach every session, the shim's pool included.
  db.exec(on ? "ALTER SYSTEM RESET synchronous_commit" : "ALTER SYSTEM SET synchronous_commit = off");
  db.exec("SELECT pg_reload_conf()");
  for (int i = 0; i < 50 && db.exec("SHOW synchronous_commit").text(0, 0) != (on ? "on" : "off"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// vox and plpgsql must leave identical rows for the same workload.
bool check_equal_work(Connection& db, const Target& target, const Options& options) {
  WorkloadSpec spec;
  spec.seed = options.seed;
  spec.calls = options.check_calls;
  const std::vector<Delivery> deliveries = generate(spec);
  std::map<std::string, Dump> dumps;
  for (const std::string mode : {"vox", "plpgsql"}) {
    reset_event_tables(db);
    const RunResult run = run_mode(mode, target, deliveries, 1, true, 1e9);
    verify_run(db, run, deliveries);
    dumps[mode] = dump_event_rows(db);
  }
  const std::vector<std::string> differences = compare_dumps(dumps["vox"], "vox", dumps["plpgsql"], "plpgsql");
  if (!differences.empty()) {
    std::cout << "EQUALITY CHECK FAILED: vox and plpgsql leave different rows for the same " << deliveries.size()
              << " deliveries (" << spec.calls << " calls):\n";
    for (const std::string& line : differences) std::cout << "  " << line << "\n";
    return false;
  }
  std::cout << "equality check: vox and plpgsql leave identical rows (" << dumps["vox"].size() << " rows, "
            << deliveries.size() << " deliveries of " << spec.calls << " calls)\n";
  return true;
}

struct ScaleResult {
  RunResult empty, stored;
};

// vox on empty tables and on tables holding scale_calls past calls (a second
// database of the same server), in alternating rounds.
ScaleResult scale_check(Connection& admin, const Target& target, const Options& options, int concurrency) {
  const std::string stored_name = admin.exec("SELECT current_database()").text(0, 0) + "_stored";
  create_database(admin, stored_name);
  Target stored_target = target;
  stored_target.conninfo = target.conninfo + " dbname=" + stored_name;  // the last dbname counts
  Connection stored(stored_target.conninfo);
  set_up(stored);
  reset_event_tables(stored);
  progress("storing " + std::to_string(options.scale_calls) + " past calls in database " + stored_name);
  store_past_calls(stored, options.scale_calls);

  WorkloadSpec spec;
  spec.seed = options.seed + 1;
  spec.calls = options.calls;
  const std::vector<Delivery> deliveries = generate(spec);
  ScaleResult result;
  for (int round = 0; round < options.rounds; ++round) {
    reset_event_tables(admin);
    merge_round(result.empty, run_mode("vox", target, deliveries, concurrency, true, options.max_seconds));
    reset_event_tables(stored, true);
    merge_round(result.stored, run_mode("vox", stored_target, deliveries, concurrency, true, options.max_seconds));
  }
  reset_event_tables(stored, true);
  return result;
}

struct CitusRun {
  std::string route;  // signed or unsigned
  RunResult single, cluster;
  double workers_cpu_seconds = 0;  // every process of the workers' servers, during the cluster's rounds
};

struct CitusResult {
  long workers = 0;
  std::vector<CitusRun> runs;
};

// The postmasters of the coordinator's workers, found through a backend of
// each (they run on this machine): a server's CPU time counts the backends
// the coordinator's sessions opened there, also after they ended.
std::vector<int> worker_postmasters(Connection& coordinator, const std::string& conninfo) {
  std::vector<int> postmasters;
  Result workers = coordinator.exec("SELECT node_name, node_port FROM citus_get_active_worker_nodes()");
  for (int i = 0; i < workers.rows(); ++i) {
    // The last host and port of a conninfo count.
    Connection worker(conninfo + " host=" + workers.text(i, 0) + " port=" + workers.text(i, 1));
    postmasters.push_back(parent_pid(worker.backend_pid()));
  }
  return postmasters;
}

double servers_cpu_seconds(const std::vector<int>& postmasters) {
  double seconds = 0;
  for (int postmaster : postmasters) seconds += server_cpu_seconds(postmaster);
  return seconds;
}

// vox's two routes through a Citus coordinator and against this server alone,
// each run's rounds alternating between the two. The coordinator's database
// gets the tenants this one has.
CitusResult citus_check(Connection& admin, const Target& target, const Options& options,
                        const std::vector<Delivery>& deliveries) {
  Connection coordinator(options.citus_conninfo);
  if (coordinator.exec("SELECT EXISTS (SELECT FROM pg_dist_partition WHERE logicalrelid = 'vox.call_logs'::regclass)")
          .text(0, 0) != "t")
    throw std::runtime_error("citus: vox is not distributed in " + options.citus_conninfo +
                             " (SELECT vox.distribute())");
  set_up(coordinator);
  Target cluster = target;
  cluster.conninfo = options.citus_conninfo;
  const std::vector<std::pair<std::string, std::string>> routes = {{"signed", "vox-signed"}, {"unsigned", "vox"}};
  const std::vector<int> workers = worker_postmasters(coordinator, options.citus_conninfo);
  CitusResult result;
  result.workers = static_cast<long>(workers.size());
  for (int c : options.concurrency) {
    std::vector<CitusRun> merged;
    for (const auto& route : routes) merged.push_back({route.first, {}, {}});
    for (int round = 0; round < options.rounds; ++round) {
      for (size_t r = 0; r < routes.size(); ++r) {
        const std::string& mode = routes[r].second;
        reset_event_tables(admin);
        RunResult single = run_mode(mode, target, deliveries, c, true, options.max_seconds);
        verify_run(admin, single, deliveries);
        merge_round(merged[r].single, single);
        reset_event_tables(coordinator);
        // reset_event_tables checkpoints the coordinator; the rows are the workers'.
        coordinator.exec("SELECT run_command_on_workers('CHECKPOINT')");
        const double workers_before = servers_cpu_seconds(workers);
        RunResult through_coordinator = run_mode(mode, cluster, deliveries, c, true, options.max_seconds);
        merged[r].workers_cpu_seconds += servers_cpu_seconds(workers) - workers_before;
        verify_run(coordinator, through_coordinator, deliveries);
        merge_round(merged[r].cluster, through_coordinator);
      }
    }
    for (CitusRun& run : merged) {
      progress("citus " + run.route + " c=" + std::to_string(c) + ": " + fixed(run.cluster.events_per_second()) +
               " events/s through the coordinator, " + fixed(run.single.events_per_second()) + " single node");
      result.runs.push_back(std::move(run));
    }
  }
  reset_event_tables(coordinator);
  return result;
}

void print_citus(const CitusResult& citus) {
  std::cout << "\ncitus: vox through a Citus coordinator with " << citus.workers
            << " workers, against this server alone (synchronous_commit on; each run's rounds alternate between "
               "the two).\nThe coordinator, the workers and the load share this machine: this measures overhead, "
               "not scale-out.\n";
  std::printf("%-9s %5s %11s %12s %8s %9s %10s %11s %10s %10s %11s\n", "route", "conc", "single ev/s", "cluster ev/s",
              "xsingle", "+us/ev", "single p50", "cluster p50", "single cpu", "coord cpu", "workers cpu");
  for (const CitusRun& run : citus.runs) {
    const double single = run.single.events_per_second(), cluster = run.cluster.events_per_second();
    std::printf("%-9s %5d %11.0f %12.0f %8.2f %9.0f %10.2f %11.2f %10.0f %10.0f %11.0f%s\n", run.route.c_str(),
                run.single.concurrency, single, cluster, cluster / single, 1e6 / cluster - 1e6 / single,
                run.single.percentile_ms(0.50), run.cluster.percentile_ms(0.50), run.single.cpu_us_per_event(),
                run.cluster.cpu_us_per_event(), run.workers_cpu_seconds * 1e6 / static_cast<double>(run.cluster.events),
                run.single.capped || run.cluster.capped ? "  (time limit: part of the workload)" : "");
  }
  std::printf(
      "xsingle: cluster/single events/s. +us/ev: 1/cluster rate - 1/single rate, what an event costs more through\n"
      "the coordinator (at c=1 its added latency; above, its added share of the machine). p50 in ms. cpu: CPU us\n"
      "per event of the single node's backends, of the coordinator's, and of every process of the workers' servers\n");
}

struct MemoryResult {
  std::vector<std::pair<long, Rss>> samples;  // events done, backend memory
};

// One vox connection applies memory_events events (calls generated a batch
// at a time, so the bench itself stays small) and its backend's memory is
// read as it goes.
MemoryResult memory_check(Connection& admin, const Options& options) {
  reset_event_tables(admin);
  Connection db(options.conninfo);
  db.exec("SET synchronous_commit = off");  // memory, not commits, is measured here
  db.prepare("event", "SELECT vox.handle_event($1::jsonb)");
  MemoryResult result;
  const int batch_calls = 500;
  // After the first 1 % (caches and plans warm), halfway, and at the end.
  const long first_sample = std::max(1L, options.memory_events / 100), middle_sample = options.memory_events / 2;
  long done = 0;
  for (int first = 0; done < options.memory_events; first += batch_calls) {
    WorkloadSpec spec;
    spec.seed = options.seed + 2;
    spec.first_call = first;
    spec.calls = batch_calls;
    for (const Delivery& delivery : generate(spec)) {
      if (done == options.memory_events) break;
      db.exec_prepared("event", {delivery.body});
      ++done;
      if (done == first_sample || (done == middle_sample && middle_sample > first_sample))
        result.samples.emplace_back(done, read_rss(db.backend_pid()));
    }
  }
  result.samples.emplace_back(done, read_rss(db.backend_pid()));
  return result;
}

void print_targets(const std::vector<RunResult>& runs, const std::vector<int>& concurrency) {
  std::cout << "\ntargets (synchronous_commit on; reported, not asserted):\n";
  auto line = [&](const char* what, const char* a, const char* b, double target, bool at_least) {
    for (int c : concurrency) {
      const RunResult* x = find_run(runs, a, c, true);
      const RunResult* y = find_run(runs, b, c, true);
      if (!x || !y || y->events_per_second() <= 0) continue;
      const double ratio = x->events_per_second() / y->events_per_second();
      const bool met = at_least ? ratio >= target : ratio > target;
      std::cout << "  " << what << " c=" << c << ": " << fixed(ratio, 2) << (met ? "  met" : "  NOT met") << "\n";
    }
  };
  line("vox/floor >= 0.8   ", "vox", "floor", 0.8, true);
  line("vox/client >= 5    ", "vox", "client", 5, true);
  line("vox/plpgsql > 1    ", "vox", "plpgsql", 1, false);
  line("http/vox >= 0.7    ", "http", "vox", 0.7, true);
}

// Every mode at every concurrency, synchronous_commit on then off; each run
// is options.rounds rounds, alternating with the other modes' rounds.
std::vector<RunResult> run_table(Connection& admin, const Target& target, const Options& options,
                                 const std::vector<std::string>& modes, const std::vector<Delivery>& deliveries,
                                 ServerProcess* shim, long& shim_peak_kb) {
  std::vector<RunResult> runs;
  for (const bool sync : {true, false}) {
    set_synchronous_commit(admin, sync);
    for (int c : options.concurrency) {
      std::map<std::string, RunResult> merged;
      for (int round = 0; round < options.rounds; ++round) {
        for (const std::string& mode : modes) {
          reset_event_tables(admin);
          std::unique_ptr<RssSampler> sampler;
          if (mode == "http") sampler = std::make_unique<RssSampler>(shim->pid());
          const std::map<int, double> helpers_before = helpers_cpu(admin, mode, shim);
          RunResult result = run_mode(mode, target, deliveries, c, sync, options.max_seconds);
          if (sampler) shim_peak_kb = std::max(shim_peak_kb, sampler->peak_kb());
          result.server_cpu_seconds += cpu_used(helpers_before, helpers_cpu(admin, mode, shim));
          verify_run(admin, result, deliveries);
          merge_round(merged[mode], result);
        }
      }
      for (const std::string& mode : modes) {
        progress(mode + " c=" + std::to_string(c) + " sync=" + (sync ? "on" : "off") + ": " +
                 fixed(merged[mode].events_per_second()) + " events/s");
        runs.push_back(std::move(merged[mode]));
      }
    }
  }
  set_synchronous_commit(admin, true);
  return runs;
}

int run(const Options& options) {
  Connection admin(options.conninfo);
  set_up(admin);
  Target target;
  target.conninfo = options.conninfo;
  target.shim_port = options.shim_port;
  target.secrets = org_secrets(admin);

  std::vector<std::string> modes;
  for (const std::string& mode : options.modes) {
    if (mode == "plpgsql" &&
        admin.exec("SELECT to_regprocedure('vox_bench.handle_event(jsonb)') IS NULL").text(0, 0) == "t") {
      std::cout << "plpgsql: SKIPPED: vox_bench.handle_event(jsonb) is not installed (bench/plpgsql/handler.sql)\n";
      continue;
    }
    if (mode == "http" && options.shim_binary.empty()) {
      std::cout << "http: SKIPPED: no --shim-binary\n";
      continue;
    }
    if (mode == "feed" && options.relay_binary.empty()) {
      std::cout << "feed: SKIPPED: no --relay-binary\n";
      continue;
    }
    if (mode == "citus" && options.citus_conninfo.empty()) {
      std::cout << "citus: SKIPPED: no --citus-conninfo\n";
      continue;
    }
    modes.push_back(mode);
  }
  auto enabled = [&](const std::string& mode) {
    for (const std::string& m : modes)
      if (m == mode) return true;
    return false;
  };

  std::cout << "machine: " << std::thread::hardware_concurrency() << " CPUs (" << cpu_model() << "), PostgreSQL "
            << admin.exec("SHOW server_version").text(0, 0) << ", vox "
            << admin.exec("SELECT extversion FROM pg_extension WHERE extname = 'vox'").text(0, 0) << ", shared_buffers "
            << admin.exec("SHOW shared_buffers").text(0, 0) << "\n";

  if (enabled("vox") && enabled("plpgsql")) {
    progress("equality check: vox and plpgsql, " + std::to_string(options.check_calls) + " calls at c=1");
    if (!check_equal_work(admin, target, options)) return 1;
  }

  WorkloadSpec spec;
  spec.seed = options.seed;
  spec.calls = options.calls;
  const std::vector<Delivery> deliveries = generate(spec);
  std::cout << "workload: " << spec.calls << " calls over " << kOrgs << " orgs, " << deliveries.size()
            << " deliveries (5 % duplicated, 5 % swapped with the next); rounds per run: " << options.rounds
            << ", alternating with the other modes' rounds, each stopping after " << fixed(options.max_seconds)
            << " s\n";

  std::unique_ptr<ServerProcess> shim;
  Rss shim_idle, shim_end;
  long shim_peak_kb = 0;
  int max_concurrency = 1;
  for (int c : options.concurrency) max_concurrency = std::max(max_concurrency, c);
  if (enabled("http")) {
    // The bench's clients all come from 127.0.0.1: no rate limits. One
    // worker thread per keep-alive client and a connection per concurrent
    // event.
    shim = std::make_unique<ServerProcess>(ServerSettings{
        "vox-shim",
        {options.shim_binary, "--host=127.0.0.1", "--port=" + std::to_string(options.shim_port),
         "--database-url=" + options.shim_conninfo, "--db-pool-size=" + std::to_string(max_concurrency),
         "--worker-threads=" + std::to_string(max_concurrency + 4), "--ip-rate=0", "--call-rate=0",
         "--max-connections-per-ip=0"},
        options.shim_port,
        "/health",
        options.shim_log});
    shim_idle = read_rss(shim->pid());
  }

  std::vector<std::string> table_modes;
  for (const std::string& mode : modes)
    if (mode != "feed" && mode != "citus") table_modes.push_back(mode);
  const std::vector<RunResult> runs =
      run_table(admin, target, options, table_modes, deliveries, shim.get(), shim_peak_kb);
  if (shim) {
    shim_end = read_rss(shim->pid());
    shim.reset();
  }

  std::optional<std::vector<FeedRun>> feed;
  FeedSettings feed_settings{options.relay_binary, options.relay_conninfo, options.relay_port,  options.relay_log,
                             std::min(8, max_concurrency), options.max_seconds, options.rounds};
  if (enabled("feed")) {
    progress("feed: " + std::to_string(kOrgs) + " live-feed clients through vox-relay");
    feed = feed_check(admin, target, feed_settings, deliveries);
  }
  std::optional<CitusResult> citus;
  if (enabled("citus")) {
    progress("citus: vox's signed and unsigned routes through the Citus coordinator and on this server");
    citus = citus_check(admin, target, options, deliveries);
  }
  std::optional<ScaleResult> scale;
  const int scale_concurrency = std::min(8, max_concurrency);
  if (enabled("vox") && options.scale_calls > 0) scale = scale_check(admin, target, options, scale_concurrency);
  std::optional<MemoryResult> memory;
  if (enabled("vox") && options.memory_events > 0) {
    progress("memory check: " + std::to_string(options.memory_events) + " events on one connection");
    memory = memory_check(admin, options);
  }
  reset_event_tables(admin);

  if (!runs.empty()) {
    std::cout << "\n";
    print_table(runs);
  }
  if (scale)
    std::cout << "\nscale: vox c=" << scale_concurrency << ", " << fixed(scale->empty.events_per_second())
              << " events/s on empty tables, " << fixed(scale->stored.events_per_second()) << " with "
              << options.scale_calls << " calls stored: ratio "
              << fixed(scale->stored.events_per_second() / scale->empty.events_per_second(), 2)
              << " (target >= 0.85; rounds alternating between the two)\n";
  if (feed) print_feed(*feed, feed_settings);
  if (citus) print_citus(*citus);
  if (enabled("http"))
    std::cout << "vox-shim memory: VmRSS " << shim_idle.rss_kb / 1024 << " MiB idle, peak under load "
              << shim_peak_kb / 1024 << " MiB (sampled every 100 ms), VmHWM " << shim_end.hwm_kb / 1024
              << " MiB at the end\n";
  if (memory) {
    std::cout << "backend memory of one vox connection, MiB of VmRSS = RssAnon (private) + RssShmem (shared "
                 "buffers touched) + RssFile:\n";
    for (const auto& [events, rss] : memory->samples)
      std::cout << "  after " << events << " events: " << fixed(rss.rss_kb / 1024.0, 1) << " = "
                << fixed(rss.anon_kb / 1024.0, 1) << " + " << fixed(rss.shmem_kb / 1024.0, 1) << " + ...\n";
  }
  if (!runs.empty()) print_targets(runs, options.concurrency);
  return 0;
}

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  try {
    return bench::run(bench::parse(argc, argv));
  } catch (const std::exception& e) {
    std::cerr << "vox-bench: " << e.what() << "\n";
    return 1;
  }
}
