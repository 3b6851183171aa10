#include "feed.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <httplib.h>

#include "database.hpp"
#include "proc.hpp"
#include "runner.hpp"
#include "server_process.hpp"

namespace bench {

namespace {

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One org's live feed, read on a thread of its own: which outbox rows
// arrived (the id is a cursor's last part), and when.
class FeedClient {
 public:
  FeedClient(int port, int org, const std::string& token) : org_(org) {
    thread_ = std::thread([this, port, token] { read(port, token); });
  }
  ~FeedClient() {
    stop_ = true;
    thread_.join();
  }
  FeedClient(const FeedClient&) = delete;
  FeedClient& operator=(const FeedClient&) = delete;

  bool started() const { return started_; }
  size_t received() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_.size();
  }
  std::string error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }
  // (outbox id, arrival in µs since the epoch), in arrival order.
  std::vector<std::pair<int64_t, int64_t>> arrivals() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return arrivals_;
  }

 private:
  void read(int port, const std::string& token) {
    httplib::Client client("127.0.0.1", port);
    client.set_read_timeout(10, 0);  // heartbeats come every second
    auto response = client.Get("/v1/orgs/" + org_uuid(org_) + "/feed", {{"Authorization", "Bearer " + token}},
                               [this](const char* data, size_t length) {
                                 take(std::string_view(data, length));
                                 return !stop_;
                               });
    if (!stop_) fail("stream ended: " + (response ? "status " + std::to_string(response->status)
                                                   : httplib::to_string(response.error())));
  }

  // Server-Sent Events: blocks of lines ended by an empty line.
  void take(std::string_view chunk) {
    buffer_.append(chunk);
    for (size_t end; (end = buffer_.find("\n\n")) != std::string::npos; buffer_.erase(0, end + 2)) {
      std::string id, event;
      size_t start = 0;
      while (start < end) {
        const size_t line_end = std::min(buffer_.find('\n', start), end);
        const std::string line = buffer_.substr(start, line_end - start);
        if (line.rfind("id: ", 0) == 0) id = line.substr(4);
        if (line.rfind("event: ", 0) == 0) event = line.substr(7);
        start = line_end + 1;
      }
      if (event == "snapshot") started_ = true;
      else if (!event.empty()) fail("unexpected event " + event);
      else if (!id.empty()) {
        const int64_t arrival = now_us();
        std::lock_guard<std::mutex> lock(mutex_);
        arrivals_.emplace_back(std::stoll(id.substr(id.rfind('/') + 1)), arrival);
      }
    }
  }

  void fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (error_.empty()) error_ = "feed of org " + std::to_string(org_) + ": " + what;
  }

  const int org_;
  std::string buffer_;
  std::atomic<bool> stop_{false}, started_{false};
  mutable std::mutex mutex_;
  std::vector<std::pair<int64_t, int64_t>> arrivals_;
  std::string error_;
  std::thread thread_;
};

using Clients = std::vector<std::unique_ptr<FeedClient>>;

Clients connect_clients(int port, const std::vector<std::string>& tokens) {
  Clients clients;
  for (int org = 0; org < kOrgs; ++org) clients.push_back(std::make_unique<FeedClient>(port, org, tokens[org]));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (const auto& client : clients)
    while (!client->started()) {
      if (!client->error().empty()) throw std::runtime_error(client->error());
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("a feed client got no snapshot");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  return clients;
}

// Outbox ids of each org with their commit time in µs since the epoch.
std::vector<std::map<int64_t, int64_t>> committed_rows(Connection& admin) {
  std::map<std::string, int> org_index;
  for (int org = 0; org < kOrgs; ++org) org_index[org_uuid(org)] = org;
  std::vector<std::map<int64_t, int64_t>> rows(kOrgs);
  Result result = admin.exec(
      "SELECT org_id, id, (extract(epoch FROM pg_xact_commit_timestamp(committed_by::xid)) * 1e6)::bigint "
      "FROM vox.outbox");
  for (int i = 0; i < result.rows(); ++i)
    rows[static_cast<size_t>(org_index.at(result.text(i, 0)))][result.integer(i, 1)] = result.integer(i, 2);
  return rows;
}

// Waits until every client has as many events as its org committed, then
// checks they are exactly those, once each, and adds their latencies.
void collect(Connection& admin, const Clients& clients, RunResult& delivery) {
  const std::vector<std::map<int64_t, int64_t>> committed = committed_rows(admin);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (int org = 0; org < kOrgs; ++org)
    while (clients[org]->received() < committed[org].size() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // anything more would be a repeat
  for (int org = 0; org < kOrgs; ++org) {
    if (!clients[org]->error().empty()) throw std::runtime_error(clients[org]->error());
    const auto arrivals = clients[org]->arrivals();
    std::map<int64_t, int> seen;
    for (const auto& [id, at] : arrivals) {
      auto row = committed[org].find(id);
      if (row == committed[org].end() || ++seen[id] > 1)
        throw std::runtime_error("feed of org " + std::to_string(org) + ": outbox row " + std::to_string(id) +
                                 (row == committed[org].end() ? " is not the org's" : " arrived twice"));
      delivery.latencies_us.push_back(static_cast<uint32_t>(std::max<int64_t>(0, at - row->second)));
    }
    if (seen.size() != committed[org].size())
      throw std::runtime_error("feed of org " + std::to_string(org) + ": " + std::to_string(seen.size()) + " of " +
                               std::to_string(committed[org].size()) + " committed events arrived");
    delivery.events += static_cast<int64_t>(arrivals.size());
  }
}

}  // namespace

std::vector<FeedRun> feed_check(Connection& admin, const Target& target, const FeedSettings& settings,
                                const std::vector<Delivery>& deliveries) {
  if (admin.exec("SHOW track_commit_timestamp").text(0, 0) != "on")
    throw std::runtime_error("feed: track_commit_timestamp is off (bench/run.sh turns it on)");
  ServerProcess relay({"vox-relay",
                       {settings.relay_binary, "--host=127.0.0.1", "--port=" + std::to_string(settings.relay_port),
                        "--database-url=" + settings.relay_database_url, "--heartbeat-seconds=1",
                        // Every client of the bench comes from 127.0.0.1, one per org: more than the default.
                        "--max-connections-per-ip=0"},
                       settings.relay_port,
                       "/healthz",
                       settings.relay_log});
  std::vector<std::string> tokens;
  for (int org = 0; org < kOrgs; ++org)
    tokens.push_back(
        admin.exec("SELECT token FROM vox.create_feed_credential($1::uuid, 'vox-bench')", {org_uuid(org)}).text(0, 0));

  std::vector<FeedRun> runs;
  for (const bool notify : {true, false}) {
    FeedRun run;
    run.notify = notify;
    const std::string mode = notify ? "vox-notify" : "vox";
    for (int round = 0; round < settings.rounds; ++round) {
      reset_event_tables(admin);
      merge_round(run.without_clients, run_mode(mode, target, deliveries, settings.concurrency, true,
                                                settings.max_seconds));
      reset_event_tables(admin);
      const Clients clients = connect_clients(settings.relay_port, tokens);
      const double cpu_before = cpu_seconds(relay.pid());
      merge_round(run.with_clients,
                  run_mode(mode, target, deliveries, settings.concurrency, true, settings.max_seconds));
      collect(admin, clients, run.delivery);
      run.relay_cpu_seconds += cpu_seconds(relay.pid()) - cpu_before;
    }
    runs.push_back(std::move(run));
  }
  reset_event_tables(admin);
  return runs;
}

void print_feed(const std::vector<FeedRun>& runs, const FeedSettings& settings) {
  std::cout << "\nfeed: vox-relay with " << kOrgs << " clients (one per org), events through vox at c="
            << settings.concurrency << ", synchronous_commit on, rounds alternating with and without the clients:\n";
  for (const FeedRun& run : runs) {
    const double with = run.with_clients.events_per_second(), without = run.without_clients.events_per_second();
    char line[512];
    std::snprintf(line, sizeof line,
                  "  NOTIFY %-3s: %.0f events/s with the clients, %.0f without (ratio %.2f); %lld events delivered, "
                  "commit to client p50 %.1f ms, p99 %.1f ms; relay CPU %.0f us per event delivered\n",
                  run.notify ? "on" : "off", with, without, without > 0 ? with / without : 0,
                  static_cast<long long>(run.delivery.events), run.delivery.percentile_ms(0.5),
                  run.delivery.percentile_ms(0.99),
                  run.delivery.events > 0 ? run.relay_cpu_seconds * 1e6 / static_cast<double>(run.delivery.events)
                                          : 0.0);
    std::cout << line;
  }
}

}  // namespace bench
