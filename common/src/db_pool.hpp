// A bounded pool of libpq connections to the vox database. Connections are
// opened on first use and reopened after they break (a PostgreSQL restart),
// so a program never needs a restart itself. Each session carries the
// configured timeouts and application_name, and prepares its program's
// statements once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct pg_conn;

namespace vox {

struct PoolUsage {
  size_t in_use = 0;
  size_t size = 0;
  size_t waiting = 0;  // requests waiting for a connection
};

// A statement each session prepares once.
struct PreparedStatement {
  const char* name;
  const char* sql;
};

struct DbSettings {
  std::string conninfo;
  std::string application_name;
  std::vector<PreparedStatement> statements;
  int connect_timeout_s;
  int statement_timeout_ms;
  int lock_timeout_ms;
  int idle_in_transaction_timeout_ms;
};

struct DbResult {
  std::string value;     // the first value the statement returns ("" for NULL)
  std::string sqlstate;  // empty on success
  std::string message;
  // The session could not be set up (connect or prepare failed): the fault is
  // the deployment's or the server's, never the request's.
  bool setup_failed = false;
  std::vector<std::vector<std::string>> rows;  // every row, every column ("" for NULL)
  bool ok() const { return sqlstate.empty(); }
};

class DbConnection {
 public:
  using Clock = std::chrono::steady_clock;
  explicit DbConnection(const DbSettings& settings) : settings_(settings) {}
  ~DbConnection();
  DbConnection(const DbConnection&) = delete;
  DbConnection& operator=(const DbConnection&) = delete;

  // Runs the prepared statement named `statement` with `count` text
  // parameters (nullptr: NULL), its answer awaited until `deadline`.
  DbResult run(const char* statement, int count, const char* const* values, Clock::time_point deadline);
  // SELECT 1.
  DbResult ping(Clock::time_point deadline);

 private:
  // Sends what is pending and waits until a result can be read without
  // blocking; false (the connection closed, failed set) past the deadline or
  // on a socket error.
  bool wait_for_result(Clock::time_point deadline, DbResult& failed);
  DbResult connect();
  void close();

  const DbSettings& settings_;
  pg_conn* conn_ = nullptr;
};

class DbPool {
 public:
  explicit DbPool(DbSettings settings, size_t size);

  // A connection on loan; returned to the pool when destroyed.
  class Lease {
   public:
    Lease(DbPool& pool, std::unique_ptr<DbConnection> connection) : pool_(&pool), connection_(std::move(connection)) {}
    Lease(Lease&&) = default;
    ~Lease();
    DbConnection& operator*() const { return *connection_; }
    DbConnection* operator->() const { return connection_.get(); }

   private:
    DbPool* pool_;
    std::unique_ptr<DbConnection> connection_;
  };

  // Waits up to `wait` for a free connection.
  std::optional<Lease> acquire(std::chrono::milliseconds wait);
  PoolUsage usage() const;

 private:
  void give_back(std::unique_ptr<DbConnection> connection);

  const DbSettings settings_;
  const size_t size_;
  mutable std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<DbConnection>> idle_;
  size_t in_use_ = 0;
  size_t waiting_ = 0;
};

}  // namespace vox
