#include "server.hpp"

#include <sys/socket.h>

#include <chrono>
#include <cmath>

#include "credentials.hpp"
#include "feed_db.hpp"
#include "feed_stream.hpp"
#include "log.hpp"
#include "request_framing.hpp"

namespace relay {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Workers beyond one per stream, for everything else (health checks,
// transcripts, refusals), so that full streams never starve them.
constexpr size_t kSpareWorkers = 16;
constexpr size_t kQueueLimit = 256;
// The kernel's send buffer of each connection (Linux counts it twice): with
// the relay's own pieces (FeedStream), what a stream holds unsent for a
// client stays under 1 MiB.
constexpr int kSendBufferBytes = 256 * 1024;
constexpr auto kPoolWait = std::chrono::milliseconds(2000);
constexpr auto kHealthTimeout = std::chrono::milliseconds(1000);
// vox refuses longer call ids.
constexpr size_t kMaxCallIdBytes = 128;
constexpr int kTranscriptLines = 500;

// What one request did, for its log line, written by the server's logger
// once the response is sent (on the request's worker thread).
struct RequestRecord {
  Clock::time_point start;
  std::string org_id, error;
};
thread_local RequestRecord current;

// The route label of logs and metrics: the path's template, never the path
// itself (nor the query, which may hold a token).
std::string route_of(const std::string& path) {
  static const std::string orgs = "/v1/orgs/";
  if (path.rfind(orgs, 0) == 0) {
    if (path.size() > 5 && path.compare(path.size() - 5, 5, "/feed") == 0) return "/v1/orgs/{org_id}/feed";
    if (path.size() > 11 && path.compare(path.size() - 11, 11, "/transcript") == 0)
      return "/v1/orgs/{org_id}/calls/{call_id}/transcript";
    if (path.size() > 10 && path.compare(path.size() - 10, 10, "/recording") == 0)
      return "/v1/orgs/{org_id}/calls/{call_id}/recording";
  }
  if (path == "/" || path == "/healthz" || path == "/metrics") return path;
  if (path.rfind("/dashboard", 0) == 0) return "/dashboard/";
  return "other";
}

std::optional<std::string> header(const httplib::Request& request, const char* name) {
  if (!request.has_header(name)) return std::nullopt;
  return request.get_header_value(name);
}

std::optional<std::string> param(const httplib::Request& request, const char* name) {
  if (!request.has_param(name)) return std::nullopt;
  return request.get_param_value(name);
}

std::unique_ptr<Archiver> make_archiver(const Config& config, Metrics& metrics) {
  if (config.s3_endpoint.empty()) return nullptr;
  return std::make_unique<Archiver>(
      ArchiverSettings{config.database_url,
                       config.archive_workers,
                       std::chrono::milliseconds(config.archive_poll_ms),
                       config.archive_lease_seconds,
                       DownloadLimits{std::chrono::seconds(config.archive_max_seconds), config.archive_max_bytes,
                                      config.archive_ca_file},
                       config.archive_download_hosts,
                       config.archive_allow_loopback,
                       config.s3_key_prefix,
                       config.playback_url_seconds},
      StoreSettings{config.s3_endpoint, config.s3_region, config.s3_bucket, config.s3_path_style, config.s3_ca_file,
                    config.s3_credentials},
      metrics);
}

}  // namespace

Server::Server(const Config& config)
    : config_(config),
      pool_(relay_db_settings(config.database_url), size_t(config.db_pool_size)),
      hub_(size_t(config.max_streams), size_t(config.max_streams_per_org)),
      checker_(relay_db_settings(config.database_url), hub_, metrics_),
      listener_(config.database_url, hub_, checker_),
      cors_(config.allowed_origins),
      dashboard_(config.dashboard_dir),
      archiver_(make_archiver(config, metrics_)),
      // A stream holds its worker for its whole life.
      http_(vox::ConnectionSettings{size_t(config.max_streams) + kSpareWorkers,
                                    kQueueLimit,
                                    size_t(config.max_connections_per_ip),
                                    {},
                                    vox::HeadLimits{}}) {
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, which lets a
  // second relay bind the same port silently. Accepted connections inherit
  // the send buffer.
  http_.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &kSendBufferBytes, sizeof kSendBufferBytes);
  });
  // Bounds the reading of each request, never a stream (a response).
  http_.set_read_timeout(config_.read_timeout_seconds, 0);
  http_.set_write_timeout(config_.write_timeout_seconds, 0);
  http_.set_keep_alive_timeout(5);
  http_.set_tcp_nodelay(true);

  http_.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    current = RequestRecord{Clock::now(), {}, {}};
    response.set_header("X-Content-Type-Options", "nosniff");
    if (const std::optional<std::string> origin = cors_.allow_origin(header(request, "Origin"))) {
      response.set_header("Access-Control-Allow-Origin", *origin);
      response.set_header("Vary", "Origin");
    }
    if (vox::asks_to_close(request)) vox::close_after(response);
    // Framing a proxy in front could read otherwise: refused, as the shim
    // does, and nothing after it on the connection is read.
    if (const vox::FramingProblem problem = vox::framing_problem(request); problem.status != 0) {
      vox::close_after(response);
      current.error = problem.error;
      respond_error(response, problem.status, problem.status == 411 ? "length_required" : "bad_request");
      return httplib::Server::HandlerResponse::Handled;
    }
    // No route takes a body: one is refused unread (httplib would read a
    // chunked one whole, or leave one unread to be taken for the next request).
    if (request.has_header("Transfer-Encoding") || request.get_header_value_u64("Content-Length") > 0) {
      vox::close_after(response);
      current.error = "a body on a route that takes none";
      respond_error(response, 413, "body_too_large");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  http_.Options(R"(/.*)", [this](const httplib::Request& request, httplib::Response& response) {
    response.status = cors_.preflight_status(header(request, "Origin"));
    if (response.status != 204) return respond_error(response, response.status, "forbidden");
    response.set_header("Access-Control-Allow-Methods", "GET, OPTIONS");
    response.set_header("Access-Control-Allow-Headers", "Authorization, Last-Event-ID");
    response.set_header("Access-Control-Max-Age", "600");
  });
  http_.Get(R"(/v1/orgs/([^/]+)/feed)",
            [this](const httplib::Request& request, httplib::Response& response) { feed(request, response); });
  http_.Get(R"(/v1/orgs/([^/]+)/calls/([^/]+)/transcript)",
            [this](const httplib::Request& request, httplib::Response& response) { transcript(request, response); });
  http_.Get(R"(/v1/orgs/([^/]+)/calls/([^/]+)/recording)",
            [this](const httplib::Request& request, httplib::Response& response) { recording(request, response); });
  http_.Get("/healthz", [this](const httplib::Request&, httplib::Response& response) { healthz(response); });
  http_.Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    response.set_content(metrics_.render(hub_.open_streams()), "text/plain; version=0.0.4");
  });
  http_.Get("/", [this](const httplib::Request&, httplib::Response& response) {
    if (!dashboard_.enabled()) return respond_error(response, 404, "not_found");
    response.set_redirect("/dashboard/");
  });
  http_.Get("/dashboard", [this](const httplib::Request&, httplib::Response& response) {
    if (!dashboard_.enabled()) return respond_error(response, 404, "not_found");
    response.set_redirect("/dashboard/");
  });
  http_.Get(R"(/dashboard/(.*))", [this](const httplib::Request& request, httplib::Response& response) {
    dashboard(request.matches[1], response);
  });
  http_.set_exception_handler([this](const httplib::Request&, httplib::Response& response, std::exception_ptr) {
    current.error = "unexpected exception in a handler";
    respond_error(response, 500, "internal");
  });
  // Errors httplib answers itself (404 of an unknown path, 400, 413, 414,
  // 431) get a JSON body too.
  http_.set_error_response([](const httplib::Request&, httplib::Response& response) {
    if (response.body.empty()) {
      const char* error = response.status == 404   ? "not_found"
                          : response.status == 413 ? "body_too_large"
                          : response.status == 414 ? "uri_too_long"
                          : response.status == 431 ? "headers_too_large"
                                                   : "bad_request";
      response.set_content(json{{"error", error}}.dump(), "application/json");
    }
    return httplib::Server::HandlerResponse::Handled;
  });
  http_.set_request_logger([this](const httplib::Request& request, const httplib::Response& response) {
    const std::string route = route_of(request.path);
    metrics_.count_request(route, response.status);
    const bool started = current.start != Clock::time_point{};
    const double seconds = started ? std::chrono::duration<double>(Clock::now() - current.start).count() : 0.0;
    json fields = {{"route", route},
                   {"method", request.method},
                   {"status", response.status},
                   {"latency_ms", std::round(seconds * 1e4) / 10}};
    if (!current.org_id.empty()) fields["org_id"] = current.org_id;
    if (!current.error.empty()) fields["error"] = current.error;
    vox::log(response.status >= 500 ? "error" : "info", "request", fields);
    current = RequestRecord{};
  });
}

bool Server::run() {
  vox::log("info", "listening", {{"host", config_.host}, {"port", config_.port}});
  return http_.listen(config_.host, config_.port);
}

void Server::stop() {
  if (archiver_) archiver_->stop();
  hub_.shut_down();
  http_.stop();
}

void Server::respond_error(httplib::Response& response, int status, const std::string& error) {
  response.status = status;
  response.set_content(json{{"error", error}}.dump(), "application/json");
}

std::optional<std::pair<std::string, int64_t>> Server::authorize(const httplib::Request& request,
                                                                 httplib::Response& response) {
  const std::optional<std::string> org = canonical_org_id(request.matches[1].str());
  if (!org) {
    respond_error(response, 400, "bad_org_id");
    return std::nullopt;
  }
  current.org_id = *org;
  const std::optional<std::string> token = credential_token(header(request, "Authorization"), param(request, "token"));
  if (!token) {
    current.error = "no usable credential";
    respond_error(response, 401, "unauthorized");
    return std::nullopt;
  }
  const vox::DbResult result =
      with_connection(pool_, kPoolWait, [&](DbConnection& db) { return feed_authorize(db, *org, *token); });
  if (!result.ok()) {
    metrics_.count_db_error(result.sqlstate);
    current.error = result.message;
    response.set_header("Retry-After", std::to_string(config_.retry_after_seconds));
    respond_error(response, 503, "unavailable");
    return std::nullopt;
  }
  if (result.value.empty()) {
    // The reason (unknown, revoked, expired, another org's) is not the caller's to learn.
    current.error = "credential not valid for the org";
    respond_error(response, 401, "unauthorized");
    return std::nullopt;
  }
  return std::pair{*org, std::stoll(result.value)};
}

void Server::feed(const httplib::Request& request, httplib::Response& response) {
  const auto who = authorize(request, response);
  if (!who) return;
  StreamHub::Opened opened = hub_.open(who->first, who->second);
  if (!opened.stream) {
    const bool in_all = opened.admission == Admission::kTooManyInAll;
    metrics_.count_stream_refused(in_all ? "global" : "org");
    current.error = in_all ? "too many streams" : "too many streams for the org";
    response.set_header("Retry-After", std::to_string(config_.retry_after_seconds));
    return respond_error(response, 503, "too_many_streams");
  }
  const StreamSettings settings{std::chrono::milliseconds(config_.poll_interval_ms),
                                std::chrono::seconds(config_.heartbeat_seconds),
                                std::chrono::seconds(config_.write_timeout_seconds), config_.read_batch};
  auto stream = std::make_shared<FeedStream>(
      std::move(opened.stream), resume_point(header(request, "Last-Event-ID"), param(request, "last_event_id")), pool_,
      metrics_, settings);
  response.set_header("Cache-Control", "no-store");
  // nginx and others buffer responses by default, which would hold events back.
  response.set_header("X-Accel-Buffering", "no");
  response.set_chunked_content_provider(
      "text/event-stream", [stream](size_t, httplib::DataSink& sink) { return stream->step(sink); },
      [stream](bool complete) { stream->finished(complete); });
}

void Server::transcript(const httplib::Request& request, httplib::Response& response) {
  const auto who = authorize(request, response);
  if (!who) return;
  const std::string call_id = request.matches[2];
  if (call_id.size() > kMaxCallIdBytes) return respond_error(response, 404, "not_found");
  const vox::DbResult result = with_connection(
      pool_, kPoolWait, [&](DbConnection& db) { return feed_transcript(db, who->first, call_id, kTranscriptLines); });
  if (!result.ok()) {
    metrics_.count_db_error(result.sqlstate);
    current.error = result.message;
    response.set_header("Retry-After", std::to_string(config_.retry_after_seconds));
    return respond_error(response, 503, "unavailable");
  }
  response.set_header("Cache-Control", "no-store");
  response.set_content(result.value, "application/json");
}

void Server::recording(const httplib::Request& request, httplib::Response& response) {
  const auto who = authorize(request, response);
  if (!who) return;
  const std::string call_id = request.matches[2];
  if (!archiver_ || call_id.size() > kMaxCallIdBytes) return respond_error(response, 404, "not_found");
  const vox::DbResult result = archiver_->playback_url(who->first, call_id);
  if (!result.ok()) {
    metrics_.count_db_error(result.sqlstate);
    current.error = result.message;
    response.set_header("Retry-After", std::to_string(config_.retry_after_seconds));
    return respond_error(response, 503, "unavailable");
  }
  if (result.value.empty()) return respond_error(response, 404, "not_found");
  // The URL is a bearer credential for the object until it expires.
  response.set_header("Cache-Control", "no-store");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_redirect(result.value, 302);
}

void Server::healthz(httplib::Response& response) {
  const auto deadline = Clock::now() + kHealthTimeout;
  const vox::DbResult result =
      with_connection(pool_, kHealthTimeout, [&](DbConnection& db) { return db.ping(deadline); });
  if (result.ok() && Clock::now() <= deadline) {
    response.set_content(R"({"status":"ok"})", "application/json");
    return;
  }
  current.error = result.ok() ? "database answered too late" : result.message;
  response.status = 503;
  response.set_header("Retry-After", std::to_string(config_.retry_after_seconds));
  response.set_content(R"({"status":"unavailable"})", "application/json");
}

void Server::dashboard(const std::string& relative, httplib::Response& response) {
  const std::optional<StaticFile> file = dashboard_.find(relative);
  if (!file) return respond_error(response, 404, "not_found");
  // The dashboard changes with deployments: browsers ask again each time.
  response.set_header("Cache-Control", "no-cache");
  response.set_file_content(file->path, file->content_type);
}

}  // namespace relay
