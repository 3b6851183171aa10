#include "db_pool.hpp"

#include <poll.h>

#include <cerrno>

#include <libpq-fe.h>

#include "log.hpp"

namespace vox {

namespace {

constexpr const char* kPing = "vox_ping";

// Client-side failures have no server SQLSTATE: report them as what they are.
constexpr const char* kConnectionFailure = "08006";
constexpr const char* kCannotConnect = "08001";
constexpr const char* kQueryCanceled = "57014";
// How Citus' error for a worker lost at commit starts (it has no SQLSTATE of
// its own).
constexpr const char* kCitusCommitLost = "could not commit transaction for shard";
constexpr const char* kPreparedStatementMissing = "26000";

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
    for (int row = 0; row < PQntuples(result); ++row) {
      std::vector<std::string>& values = out.rows.emplace_back();
      for (int column = 0; column < PQnfields(result); ++column) values.emplace_back(PQgetvalue(result, row, column));
    }
    return out;
  }
  const char* sqlstate = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  out.sqlstate = sqlstate ? sqlstate : kConnectionFailure;
  out.message = first_line(PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY));
  if (out.message.empty()) out.message = first_line(PQresultErrorMessage(result));
  // Citus reports a worker lost while the transaction committed there as an
  // internal error: whether it committed is as unknown as when the
  // connection is lost at COMMIT, and so it is reported as that.
  if (out.sqlstate == "XX000" && out.message.rfind(kCitusCommitLost, 0) == 0) out.sqlstate = kConnectionFailure;
  return out;
}

// libpq prints a server's notices and warnings (such as "terminating
// connection because of crash of another server process") as plain text on
// stderr: as log lines instead.
void log_notice(void*, const PGresult* notice) {
  const auto field = [notice](int code) { return first_line(PQresultErrorField(notice, code)); };
  log("warning", "database notice",
      {{"severity", field(PG_DIAG_SEVERITY)},
       {"sqlstate", field(PG_DIAG_SQLSTATE)},
       {"error", field(PG_DIAG_MESSAGE_PRIMARY)}});
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
  // TCP keepalives and tcp_user_timeout notice a server that vanished (a
  // failover without a reset) instead of waiting on it.
  const char* keywords[] = {
      "dbname",          "application_name",    "connect_timeout",  "options",          "keepalives",
      "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout", nullptr};
  const char* name = settings_.application_name.c_str();
  const char* values[] = {
      settings_.conninfo.c_str(), name, timeout.c_str(), options.c_str(), "1", "15", "5", "3", "10000", nullptr};
  conn_ = PQconnectdbParams(keywords, values, 1);
  PQsetNoticeReceiver(conn_, log_notice, nullptr);
  if (PQstatus(conn_) != CONNECTION_OK) {
    DbResult result = failure(kCannotConnect, first_line(PQerrorMessage(conn_)), true);
    close();
    return result;
  }
  std::vector<PreparedStatement> statements = settings_.statements;
  statements.push_back({kPing, "SELECT 1"});
  for (const PreparedStatement& p : statements) {
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
  // Sends never block past the deadline: a large payload is written as the
  // socket takes it.
  PQsetnonblocking(conn_, 1);
  return {};
}

bool DbConnection::wait_for_result(Clock::time_point deadline, DbResult& failed) {
  for (;;) {
    const int flushed = PQflush(conn_);  // 0: all sent, 1: more to send
    if (flushed < 0) break;
    if (flushed == 0 && !PQisBusy(conn_)) return true;
    const int wait_ms = milliseconds_until(deadline);
    if (wait_ms == 0) {
      // Dropped, not canceled: a cancel request can block on its own, and
      // whether the statement committed is unknown either way. The caller
      // answers 503; the sender's retry is at worst a duplicate.
      close();
      failed = failure(kQueryCanceled, "no answer from the database before the deadline");
      return false;
    }
    pollfd socket{PQsocket(conn_), short(POLLIN | (flushed == 1 ? POLLOUT : 0)), 0};
    if (poll(&socket, 1, wait_ms) < 0 && errno != EINTR) break;
    if (!PQconsumeInput(conn_)) return true;  // the connection is gone: PQgetResult says so
  }
  failed = failure(kConnectionFailure, first_line(PQerrorMessage(conn_)));
  close();
  return false;
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
  // Every result counts: an error raised at commit (a deferred constraint,
  // a serialization failure) comes after the row the function returned.
  DbResult out;
  bool have_row = false, have_error = false;
  for (;;) {
    DbResult failed;
    if (!wait_for_result(deadline, failed)) return failed;
    PGresult* result = PQgetResult(conn_);
    if (!result) break;
    DbResult one = from_result(result);
    PQclear(result);
    if (!one.ok() && !have_error) {
      out = one;
      have_error = true;
    } else if (one.ok() && !have_row && !have_error) {
      out = one;
      have_row = true;
    }
  }
  if (!have_row && !have_error) out = failure(kConnectionFailure, first_line(PQerrorMessage(conn_)));
  if (PQstatus(conn_) != CONNECTION_OK || PQtransactionStatus(conn_) != PQTRANS_IDLE) {
    if (out.ok()) out = failure(kConnectionFailure, "the session ended outside a transaction boundary");
    close();
  }
  // The session lost its prepared statements (DISCARD ALL behind a pooler):
  // reopen it, so the retry prepares them again.
  if (out.sqlstate == kPreparedStatementMissing) close();
  return out;
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

}  // namespace vox
