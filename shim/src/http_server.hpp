// The HTTP server under vox-shim's routes: httplib's, with a connection loop
// that bounds whole requests.
#pragma once

#include <httplib.h>

namespace shim {

// httplib's server with its connection loop replaced: httplib bounds each read
// of a request, not the request, so a client sending a byte now and then
// would hold a worker for ever. Here each request (headers and body) must
// arrive within the read timeout, and a connection whose request body was
// refused unread is closed after the response.
class HttpServer : public httplib::Server {
 public:
  // listen(), but with the system's largest accept backlog: the one compiled
  // into Debian's libcpp-httplib is 5, so a burst of new connections is
  // reset.
  bool listen_with_backlog(const std::string& host, int port);

 private:
  bool process_and_close_socket(socket_t sock) override;
};

// Closes the connection after this response: for a request whose body was
// left unread, the rest of which would be taken for the next request.
void close_after(httplib::Response& response);

}  // namespace shim
