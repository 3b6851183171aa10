// The HTTP server under vox-shim's and vox-relay's routes: httplib's, with a
// connection loop that bounds whole requests, their heads, and the
// connections of one client.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include <httplib.h>

#include "connection_limit.hpp"
#include "request_head.hpp"
#include "worker_pool.hpp"

namespace vox {

struct ConnectionSettings {
  size_t worker_threads = 16;
  size_t queue_limit = 256;
  size_t max_connections_per_address = 0;  // 0: no limit
  std::vector<std::string> exempt_addresses;
  HeadLimits head;
};

// httplib's server with its connection loop replaced:
// - httplib bounds each read of a request, not the request, so a client
//   sending a byte now and then would hold a worker for ever: here each
//   request (head and body) must arrive within the read timeout (the
//   response, a feed stream however long, is not bound by it);
// - the request head is bounded as it is read (431);
// - a connection is closed after every response that says so, whatever
//   answered it (httplib's own 400 after a malformed request keeps reading);
// - an idle connection gives its worker up when another connection waits for
//   one, and one address holds at most max_connections_per_address workers.
class HttpServer : public httplib::Server {
 public:
  explicit HttpServer(ConnectionSettings settings);
  // set_logger, set_error_handler, with this class's bookkeeping around them.
  void set_request_logger(httplib::Logger logger);
  void set_error_response(HandlerWithResponse handler);

 private:
  bool process_and_close_socket(socket_t sock) override;

  ConnectionSettings settings_;
  ConnectionLimit connection_limit_;
  std::atomic<BoundedWorkerPool*> pool_{nullptr};
};

// Closes the connection after this response: for a request whose body was
// left unread, the rest of which would be taken for the next request.
void close_after(httplib::Response& response);

}  // namespace vox
