// A thin RAII layer over libpq: a connection, its results, errors as
// exceptions carrying the SQLSTATE.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bench {

class DbError : public std::runtime_error {
 public:
  DbError(const std::string& message, std::string sqlstate)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

class Result {
 public:
  explicit Result(PGresult* result) : result_(result, PQclear) {}
  int rows() const { return PQntuples(result_.get()); }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column); }
  std::string text(int row, int column) const { return PQgetvalue(result_.get(), row, column); }
  std::optional<std::string> optional_text(int row, int column) const {
    if (is_null(row, column)) return std::nullopt;
    return text(row, column);
  }
  long long integer(int row, int column) const { return std::stoll(text(row, column)); }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

// A parameter: NULL when empty.
using Param = std::optional<std::string>;

class Connection {
 public:
  explicit Connection(const std::string& conninfo);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one or more statements without parameters; returns the last result.
  Result exec(const std::string& sql);
  Result exec(const std::string& sql, const std::vector<Param>& params);
  void prepare(const std::string& name, const std::string& sql);
  Result exec_prepared(const std::string& name, const std::vector<Param>& params);
  int backend_pid() const { return PQbackendPID(conn_.get()); }

 private:
  Result check(PGresult* result, const std::string& what);
  std::unique_ptr<PGconn, void (*)(PGconn*)> conn_;
};

}  // namespace bench
