// The HTTP surface: GET /v1/orgs/{org_id}/feed (the live feed, Server-Sent
// Events), GET /v1/orgs/{org_id}/calls/{call_id}/transcript, GET
// /v1/orgs/{org_id}/calls/{call_id}/recording (a redirect to the archived
// recording), GET /healthz, GET /metrics, the dashboard's files under
// /dashboard/, and CORS preflights. Runs the recording archiver when
// storage is configured.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <httplib.h>

#include "archiver.hpp"
#include "config.hpp"
#include "cors.hpp"
#include "credential_checker.hpp"
#include "db_pool.hpp"
#include "http_server.hpp"
#include "metrics.hpp"
#include "notification_listener.hpp"
#include "static_files.hpp"
#include "stream_hub.hpp"

namespace relay {

class Server {
 public:
  explicit Server(const Config& config);
  // Serves until stop(); returns false if it could not listen.
  bool run();
  // Ends every stream and stops accepting; run() returns once the requests
  // in flight are done.
  void stop();

 private:
  void feed(const httplib::Request& request, httplib::Response& response);
  void transcript(const httplib::Request& request, httplib::Response& response);
  void recording(const httplib::Request& request, httplib::Response& response);
  void healthz(httplib::Response& response);
  void dashboard(const std::string& relative, httplib::Response& response);
  // The org of the path and the id of the request's credential for it; or
  // nothing, with the error response (400, 401 or 503) made.
  std::optional<std::pair<std::string, int64_t>> authorize(const httplib::Request& request,
                                                           httplib::Response& response);
  void respond_error(httplib::Response& response, int status, const std::string& error);

  const Config& config_;
  Metrics metrics_;
  vox::DbPool pool_;
  StreamHub hub_;
  CredentialChecker checker_;
  NotificationListener listener_;  // after the hub and the checker: it wakes them
  const Cors cors_;
  const StaticFiles dashboard_;
  const std::unique_ptr<Archiver> archiver_;  // none without storage
  vox::HttpServer http_;  // last: its workers use everything above
};

}  // namespace relay
