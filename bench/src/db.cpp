#include "db.hpp"

namespace bench {

namespace {

std::vector<const char*> values_of(const std::vector<Param>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const Param& param : params) values.push_back(param ? param->c_str() : nullptr);
  return values;
}

}  // namespace

Connection::Connection(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str()), PQfinish) {
  if (PQstatus(conn_.get()) != CONNECTION_OK)
    throw DbError("cannot connect (" + conninfo + "): " + PQerrorMessage(conn_.get()), "08000");
}

Result Connection::check(PGresult* raw, const std::string& what) {
  Result result(raw);
  const ExecStatusType status = PQresultStatus(raw);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return result;
  const char* state = raw ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
  std::string message = raw ? PQresultErrorMessage(raw) : PQerrorMessage(conn_.get());
  while (!message.empty() && message.back() == '\n') message.pop_back();
  throw DbError(what + ": " + message, state ? state : "");
}

Result Connection::exec(const std::string& sql) { return check(PQexec(conn_.get(), sql.c_str()), sql.substr(0, 60)); }

Result Connection::exec(const std::string& sql, const std::vector<Param>& params) {
  const std::vector<const char*> values = values_of(params);
  return check(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr, values.data(), nullptr,
                            nullptr, 0),
               sql.substr(0, 60));
}

void Connection::prepare(const std::string& name, const std::string& sql) {
  check(PQprepare(conn_.get(), name.c_str(), sql.c_str(), 0, nullptr), "prepare " + name);
}

Result Connection::exec_prepared(const std::string& name, const std::vector<Param>& params) {
  const std::vector<const char*> values = values_of(params);
  return check(
      PQexecPrepared(conn_.get(), name.c_str(), static_cast<int>(values.size()), values.data(), nullptr, nullptr, 0),
      name);
}

}  // namespace bench
