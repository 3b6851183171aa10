// How each mode delivers one event. A driver belongs to one thread: its own
// connection (database or HTTP keep-alive), statements prepared once.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "workload.hpp"

namespace bench {

// Where the drivers send events.
struct Target {
  std::string conninfo;              // the bench database, as a superuser
  int shim_port = 0;                 // vox-shim on 127.0.0.1
  std::vector<std::string> secrets;  // HMAC secret of each org, by org index
};

class Driver {
 public:
  virtual ~Driver() = default;
  // Applies one delivery; throws when it was not accepted.
  virtual void deliver(const Delivery& delivery) = 0;
  // The server process doing the work (0: not known here; the http mode's
  // work is done by the shim and its pool, which main measures).
  virtual int backend_pid() const { return 0; }
};

// floor, vox, vox-signed, vox-notify, plpgsql, client or http.
std::unique_ptr<Driver> make_driver(const std::string& mode, const Target& target);

// The seeds' style: defined in client_driver.cpp.
std::unique_ptr<Driver> make_client_driver(const Target& target);

}  // namespace bench
