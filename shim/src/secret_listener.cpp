#include "secret_listener.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <chrono>

#include "log.hpp"

namespace shim {

using vox::log;

namespace {

constexpr const char* kChannel = "vox_webhook_secrets";
// How often a wait looks at stopping_: the longest a shutdown waits on it.
constexpr int kPollMs = 200;

std::string first_line_of(const char* message) {
  const std::string text(message ? message : "");
  return text.substr(0, text.find('\n'));
}

}  // namespace

SecretListener::SecretListener(std::string conninfo, int connect_timeout_s, OrgSecretCache& cache)
    : conninfo_(std::move(conninfo)), connect_timeout_s_(connect_timeout_s), cache_(cache) {
  thread_ = std::thread([this] { run(); });
}

SecretListener::~SecretListener() {
  stopping_ = true;
  thread_.join();
}

void SecretListener::run() {
  while (!stopping_) {
    listen_until_disconnected();
    // A second between attempts; the cache's expiry covers the gap.
    for (int waited = 0; waited < 1000 && !stopping_; waited += kPollMs)
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
  }
}

void SecretListener::listen_until_disconnected() {
  const std::string timeout = std::to_string(connect_timeout_s_);
  // Keepalives notice a server that vanished without closing the connection.
  const char* keywords[] = {"dbname",          "application_name",    "connect_timeout",  "keepalives",
                            "keepalives_idle", "keepalives_interval", "keepalives_count", nullptr};
  const char* values[] = {conninfo_.c_str(), "vox-shim-secret-listener", timeout.c_str(), "1", "15", "5", "3",
                          nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, 1);
  // libpq would print the server's notices to stderr as plain text, amid the
  // JSON log; on this connection they are only shutdown warnings, which the
  // pool's connections already log.
  PQsetNoticeReceiver(conn, [](void*, const PGresult*) {}, nullptr);
  PGresult* listen = nullptr;
  if (PQstatus(conn) == CONNECTION_OK) listen = PQexec(conn, (std::string("LISTEN ") + kChannel).c_str());
  if (!listen || PQresultStatus(listen) != PGRES_COMMAND_OK) {
    log("warning", "secret listener cannot listen; revocations wait for the secret cache to expire",
        {{"error", first_line_of(PQerrorMessage(conn))}});
    PQclear(listen);
    PQfinish(conn);
    return;
  }
  PQclear(listen);
  cache_.forget_all();  // changes made while nobody listened
  log("info", "secret listener listening", {{"channel", kChannel}});

  while (!stopping_) {
    pollfd socket{PQsocket(conn), POLLIN, 0};
    const int ready = poll(&socket, 1, kPollMs);
    if (ready == 0) continue;
    if (ready < 0 || !PQconsumeInput(conn)) {
      log("warning", "secret listener disconnected; revocations wait for the secret cache to expire",
          {{"error", first_line_of(PQerrorMessage(conn))}});
      break;
    }
    while (PGnotify* notification = PQnotifies(conn)) {
      cache_.forget(notification->extra);
      PQfreemem(notification);
    }
  }
  PQfinish(conn);
}

}  // namespace shim
