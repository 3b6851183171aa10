#include "notification_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "log.hpp"

namespace relay {

namespace {

constexpr const char* kOutbox = "vox_outbox";
constexpr const char* kCredentials = "vox_feed_credentials";
// How often a wait looks at stopping_: the longest a shutdown waits on it.
constexpr int kPollMs = 200;
constexpr auto kFirstPause = std::chrono::milliseconds(250);
constexpr auto kLongestPause = std::chrono::milliseconds(8000);
// How often the coordinator's listener looks for nodes added or removed.
constexpr auto kNodesEvery = std::chrono::seconds(30);

std::string first_line_of(const char* message) {
  const std::string text(message ? message : "");
  return text.substr(0, text.find('\n'));
}

bool command_ok(PGconn* conn, const char* sql) {
  PGresult* result = PQexec(conn, sql);
  const bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
  PQclear(result);
  return ok;
}

}  // namespace

NotificationListener::NotificationListener(std::string conninfo, StreamHub& hub, CredentialChecker& checker)
    : conninfo_(std::move(conninfo)), hub_(hub), checker_(checker) {
  thread_ = std::thread([this] { run(); });
}

NotificationListener::NotificationListener(std::string conninfo, StreamHub& hub, CredentialChecker& checker,
                                           Node node)
    : conninfo_(std::move(conninfo)), hub_(hub), checker_(checker), node_(std::move(node)) {
  thread_ = std::thread([this] { run(); });
}

NotificationListener::~NotificationListener() {
  stopping_ = true;
  thread_.join();
}

void NotificationListener::pause(std::chrono::milliseconds how_long) {
  for (auto waited = std::chrono::milliseconds(0); waited < how_long && !stopping_;
       waited += std::chrono::milliseconds(kPollMs))
    std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
}

void NotificationListener::run() {
  auto next_pause = kFirstPause;
  while (!stopping_) {
    if (listen_until_disconnected()) next_pause = kFirstPause;
    pause(next_pause);
    next_pause = std::min(next_pause * 2, kLongestPause);
  }
}

bool NotificationListener::listen_until_disconnected() {
  // Keepalives notice a server that vanished without closing the connection.
  // Another node's host and port come after dbname (the URL), which they
  // override.
  const char* keywords[] = {"dbname",           "application_name", "connect_timeout",     "keepalives",
                            "keepalives_idle",  "keepalives_interval", "keepalives_count", "host",
                            "port",             nullptr};
  const char* values[] = {conninfo_.c_str(), "vox-relay-listener", "2", "1", "15", "5", "3",
                          node_ ? node_->first.c_str() : nullptr, node_ ? node_->second.c_str() : nullptr,
                          nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  // Which node a line is about: none named for the URL's.
  const auto about = [this](nlohmann::json fields) {
    if (node_) fields["node"] = node_->first + ":" + node_->second;
    return fields;
  };
  // libpq would print the server's notices to stderr as plain text, amid the
  // JSON log; on this connection they are only shutdown warnings.
  PQsetNoticeReceiver(
      conn, [](void*, const PGresult*) {}, nullptr);
  const bool listening = PQstatus(conn) == CONNECTION_OK &&
                         command_ok(conn, (std::string("LISTEN ") + kOutbox).c_str()) &&
                         command_ok(conn, (std::string("LISTEN ") + kCredentials).c_str());
  if (!listening) {
    vox::log("warning", "notification listener cannot listen; streams wait for their poll tick",
             about({{"error", first_line_of(PQerrorMessage(conn))}}));
    PQfinish(conn);
    return false;
  }
  vox::log("info", "notification listener listening", about({{"channels", {kOutbox, kCredentials}}}));
  // What was notified while nobody listened.
  hub_.wake_all();
  checker_.wake();
  if (!node_) nodes_due_ = std::chrono::steady_clock::now();

  while (!stopping_) {
    if (!node_ && std::chrono::steady_clock::now() >= nodes_due_) {
      follow_nodes(conn);
      nodes_due_ = std::chrono::steady_clock::now() + kNodesEvery;
    }
    pollfd socket{PQsocket(conn), POLLIN, 0};
    const int ready = poll(&socket, 1, kPollMs);
    if (ready == 0) continue;
    if (ready < 0 || !PQconsumeInput(conn)) {
      vox::log("warning", "notification listener disconnected; streams wait for their poll tick",
               about({{"error", first_line_of(PQerrorMessage(conn))}}));
      break;
    }
    while (PGnotify* notification = PQnotifies(conn)) {
      // An empty payload: vox's notifier overflowed and names no org.
      if (std::strcmp(notification->relname, kOutbox) == 0 && notification->extra[0] == '\0')
        hub_.wake_all();
      else if (std::strcmp(notification->relname, kOutbox) == 0)
        hub_.wake_org(notification->extra);
      else
        checker_.wake();
      PQfreemem(notification);
    }
  }
  PQfinish(conn);
  return true;
}

void NotificationListener::follow_nodes(PGconn* conn) {
  PGresult* result = PQexec(conn, "SELECT host, port FROM vox.feed_nodes()");
  if (PQresultStatus(result) != PGRES_TUPLES_OK) {
    // A vox older than 0.7.0 has no Citus nodes to name: the listeners stay.
    vox::log("warning", "notification listener cannot list other nodes",
             {{"error", first_line_of(PQresultErrorMessage(result))}});
    PQclear(result);
    return;
  }
  std::map<Node, std::unique_ptr<NotificationListener>> now;
  for (int row = 0; row < PQntuples(result); ++row) {
    Node node{PQgetvalue(result, row, 0), PQgetvalue(result, row, 1)};
    auto listening = others_.find(node);
    now[node] = listening != others_.end()
                    ? std::move(listening->second)
                    : std::unique_ptr<NotificationListener>(new NotificationListener(conninfo_, hub_, checker_, node));
  }
  PQclear(result);
  others_.swap(now);  // the listeners of nodes gone stop as `now` goes
}

}  // namespace relay
