#include "db_pool.hpp"

#include <poll.h>

#include <cerrno>

#include <libpq-fe.h>

namespace shim {

namespace {

constexpr const char* kHandleEvent = "vox_handle_event";
constexpr const char* kWebhookSecrets = "vox_webhook_secrets";
constexpr const char* kPing = "vox_ping";

// Client-side failures have no server SQLSTATE: report them as what they are.
constexpr const char* kConnectionFailure = "08006";
constexpr const char* kCannotConnect = "08001";
constexpr const char* kQueryCanceled = "57014";

std::string first_line(const char* text) {
  std::string line = text ? text : "";
  const size_t end = line.find('\n');
  return end == std::string::npos ? line : line.substr(0, end);
}

DbResult failure(const char* sqlstate, const std::string& message, bool setup_failed = false) {
  DbResult result;
  result.sqlstate = sqlstate;
  result.message = message;
  result.setup_failed = setup_failed;
  return result;
}

DbResult from_result(PGresult* result) {
  DbResult out;
  if (PQresultStatus(result) == PGRES_TUPLES_OK) {
    if (PQntuples(result) > 0 && !PQgetisnull(result, 0, 0)) out.value = PQgetvalue(result, 0, 0);
    return out;
  }
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  out.sqlstate = sqlstate ? sqlstate : kConnectionFailure;
  out.message = first_line(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));
  if (out.message.empty()) out.message = first_line(PQresultErrorMessage(result));
  return out;
}

int milliseconds_until(DbConnection::Clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - DbConnection::Clock::now()).count();
  return left <= 0 ? 0 : int(std::min<long long>(left, 60000));
}

}  // namespace

DbConnection::~DbConnection() { close(); }

void DbConnection::close() {
  if (conn_) PQfinish(conn_);
  conn_ = nullptr;
}

DbResult DbConnection::connect() {
  const std::string options =
      "-c statement_timeout=" + std::to_string(settings_.statement_timeout_ms) +
      " -c lock_timeout=" + std::to_string(settings_.lock_timeout_ms) +
      " -c idle_in_transaction_session_timeout=" + std::to_string(settings_.idle_in_transaction_timeout_ms);
  const std::string timeout = std::to_string(settings_.connect_timeout_s);
  // dbname is expanded as a connection string or URI; the later keywords
  // override whatever it says about them.
  const char* keywords[] = {"dbname", "application_name", "connect_timeout", "options", nullptr};
  const char* values[] = {settings_.conninfo.c_str(), "vox-shim", timeout.c_str(), options.c_str(), nullptr};
  conn_ = PQconnectdbParams(keywords, values, 1);
  if (PQstatus(conn_) != CONNECTION_OK) {
    DbResult result = failure(kCannotConnect, first_line(PQerrorMessage(conn_)), true);
    close();
    return result;
  }
  struct Prepared {
    const char* name;
    const char* sql;
  };
  for (const Prepared& p :
       {Prepared{kHandleEvent, "SELECT vox.handle_event($1::uuid, $2::jsonb, $3::text)"},
        Prepared{kWebhookSecrets, "SELECT vox.webhook_secrets_for($1::uuid)"}, Prepared{kPing, "SELECT 1"}}) {
    PGresult* prepared = PQprepare(conn_, p.name, p.sql, 0, nullptr);
    const bool ok = PQresultStatus(prepared) == PGRES_COMMAND_OK;
    DbResult result = ok ? DbResult{} : from_result(prepared);
    PQclear(prepared);
    if (!ok) {
      result.setup_failed = true;
      close();
      return result;
    }
  }
  return {};
}

DbResult DbConnection::run(const char* statement, int count, const char* const* values, Clock::time_point deadline) {
  if (conn_ && PQstatus(conn_) != CONNECTION_OK) close();
  if (!conn_) {
    DbResult connected = connect();
    if (!connected.ok()) return connected;
  }
  if (!PQsendQueryPrepared(conn_, statement, count, values, nullptr, nullptr, 0)) {
    DbResult result = failure(kConnectionFailure, first_line(PQerrorMessage(conn_)));
    close();
    return result;
  }
  // Wait for the answer no longer than the deadline; statement_timeout is
  // the server's own limit, this one also covers a server that went silent.
  bool canceled = false;
  while (PQisBusy(conn_)) {
    int wait_ms = milliseconds_until(deadline);
    if (wait_ms == 0) {
      if (canceled) {  // not even the cancel was answered: give the session up
        close();
        return failure(kQueryCanceled, "no answer from the database before the deadline");
      }
      if (PGcancel* cancel = PQgetCancel(conn_)) {
        char error[256];
        PQcancel(cancel, error, sizeof error);
        PQfreeCancel(cancel);
      }
      canceled = true;
      deadline = Clock::now() + std::chrono::seconds(1);
      wait_ms = 1000;
    }
    pollfd socket{PQsocket(conn_), POLLIN, 0};
    if (poll(&socket, 1, wait_ms) < 0 && errno != EINTR) {
      close();
      return failure(kConnectionFailure, "poll on the database socket failed");
    }
    if (!PQconsumeInput(conn_)) break;  // the connection is gone: PQgetResult reports it
  }
  DbResult out;
  bool have_result = false;
  while (PGresult* result = PQgetResult(conn_)) {
    if (!have_result) {
      out = from_result(result);
      have_result = true;
    }
    PQclear(result);
  }
  if (!have_result) out = failure(kConnectionFailure, first_line(PQerrorMessage(conn_)));
  if (PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) != PQTRANS_IDLE) close();
  return out;
}

DbResult DbConnection::handle_event(const std::optional<std::string>& org_id, const std::string& payload,
                                    const std::optional<std::string>& delivery_id, Clock::time_point deadline) {
  const char* values[] = {org_id ? org_id->c_str() : nullptr, payload.c_str(),
                          delivery_id ? delivery_id->c_str() : nullptr};
  return run(kHandleEvent, 3, values, deadline);
}

DbResult DbConnection::webhook_secrets(const std::string& org_id, Clock::time_point deadline) {
  const char* values[] = {org_id.c_str()};
  return run(kWebhookSecrets, 1, values, deadline);
}

DbResult DbConnection::ping(Clock::time_point deadline) { return run(kPing, 0, nullptr, deadline); }

DbPool::DbPool(DbSettings settings, size_t size) : settings_(std::move(settings)), size_(size) {
  for (size_t i = 0; i < size_; ++i) idle_.push_back(std::make_unique<DbConnection>(settings_));
}

DbPool::Lease::~Lease() {
  if (connection_) pool_->give_back(std::move(connection_));
}

std::optional<DbPool::Lease> DbPool::acquire(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  ++waiting_;
  const bool available = returned_.wait_for(lock, wait, [this] { return !idle_.empty(); });
  --waiting_;
  if (!available) return std::nullopt;
  std::unique_ptr<DbConnection> connection = std::move(idle_.back());
  idle_.pop_back();
  ++in_use_;
  return Lease(*this, std::move(connection));
}

void DbPool::give_back(std::unique_ptr<DbConnection> connection) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle_.push_back(std::move(connection));
    --in_use_;
  }
  returned_.notify_one();
}

PoolUsage DbPool::usage() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return PoolUsage{in_use_, size_, waiting_};
}

}  // namespace shim
