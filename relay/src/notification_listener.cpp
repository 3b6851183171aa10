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
  const char* keywords[] = {"dbname",          "application_name",    "connect_timeout",  "keepalives",
                            "keepalives_idle", "keepalives_interval", "keepalives_count", nullptr};
  const char* values[] = {conninfo_.c_str(), "vox-relay-listener", "2", "1", "15", "5", "3", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  // libpq would print the server's notices to stderr as plain text, amid the
  // JSON log; on this connection they are only shutdown warnings.
  PQsetNoticeReceiver(
      conn, [](void*, const PGresult*) {}, nullptr);
  const bool listening = PQstatus(conn) == CONNECTION_OK &&
                         command_ok(conn, (std::string("LISTEN ") + kOutbox).c_str()) &&
                         command_ok(conn, (std::string("LISTEN ") + kCredentials).c_str());
  if (!listening) {
    vox::log("warning", "notification listener cannot listen; streams wait for their poll tick",
             {{"error", first_line_of(PQerrorMessage(conn))}});
    PQfinish(conn);
    return false;
  }
  vox::log("info", "notification listener listening", {{"channels", {kOutbox, kCredentials}}});
  // What was notified while nobody listened.
  hub_.wake_all();
  checker_.wake();

  while (!stopping_) {
    pollfd socket{PQsocket(conn), POLLIN, 0};
    const int ready = poll(&socket, 1, kPollMs);
    if (ready == 0) continue;
    if (ready < 0 || !PQconsumeInput(conn)) {
      vox::log("warning", "notification listener disconnected; streams wait for their poll tick",
               {{"error", first_line_of(PQerrorMessage(conn))}});
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

}  // namespace relay
