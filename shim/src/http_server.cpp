#include "http_server.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace shim {

namespace {

using Clock = std::chrono::steady_clock;

// Set by close_after for the request being served on this thread.
thread_local bool close_after_response = false;

// Waits until `sock` is ready for `events`, or false once `until` has passed.
bool wait_for(socket_t sock, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd fd{sock, events, 0};
    const int ready = poll(&fd, 1, int(std::min<long long>(left, 60000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

ssize_t receive(socket_t sock, char* data, size_t size) {
  ssize_t n;
  do n = recv(sock, data, size, 0);
  while (n < 0 && errno == EINTR);
  return n;
}

void address_of(int (*name)(int, sockaddr*, socklen_t*), socket_t sock, std::string& ip, int& port) {
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  char host[NI_MAXHOST], service[NI_MAXSERV];
  if (name(sock, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
      getnameinfo(reinterpret_cast<sockaddr*>(&address), length, host, sizeof host, service, sizeof service,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    ip = host;
    port = std::atoi(service);
  }
}

// A connection as httplib reads and writes it: buffered reads (httplib reads
// headers a byte at a time) against one deadline per request, and writes that
// each wait at most the write timeout.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(socket_t sock, std::chrono::seconds write_timeout) : sock_(sock), write_timeout_(write_timeout) {}

  // Waits up to `idle` for the next request, which then has `budget` to arrive whole.
  bool next_request(std::chrono::seconds idle, std::chrono::seconds budget) {
    if (start_ == end_ && !wait_for(sock_, POLLIN, Clock::now() + idle)) return false;
    deadline_ = Clock::now() + budget;
    return true;
  }
  // A read gave up at the deadline: what is left of the request is unread.
  bool timed_out() const { return timed_out_; }

  bool is_readable() const override { return start_ < end_ || wait_for(sock_, POLLIN, deadline_); }
  bool is_writable() const override { return wait_for(sock_, POLLOUT, Clock::now() + write_timeout_); }
  ssize_t read(char* data, size_t size) override {
    if (start_ == end_) {
      if (!wait_for(sock_, POLLIN, deadline_)) {
        timed_out_ = true;
        return -1;
      }
      const ssize_t n = receive(sock_, buffer_, sizeof buffer_);
      if (n <= 0) return n;
      start_ = 0;
      end_ = size_t(n);
    }
    const size_t n = std::min(size, end_ - start_);
    std::memcpy(data, buffer_ + start_, n);
    start_ += n;
    return ssize_t(n);
  }
  ssize_t write(const char* data, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do n = send(sock_, data, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(getpeername, sock_, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(getsockname, sock_, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  const socket_t sock_;
  const std::chrono::seconds write_timeout_;
  Clock::time_point deadline_;
  bool timed_out_ = false;
  char buffer_[4096];
  size_t start_ = 0, end_ = 0;
};

}  // namespace

void close_after(httplib::Response& response) {
  close_after_response = true;
  response.set_header("Connection", "close");
}

bool HttpServer::listen_with_backlog(const std::string& host, int port) {
  if (!bind_to_port(host, port)) return false;
  // Listening again on a listening socket only changes its backlog.
  if (::listen(svr_sock_, SOMAXCONN) != 0) return false;
  return listen_after_bind();
}

// httplib's own loop (detail::process_server_socket), but with a
// ConnectionStream.
bool HttpServer::process_and_close_socket(socket_t sock) {
  ConnectionStream stream(sock, std::chrono::seconds(write_timeout_sec_));
  bool served = false;
  close_after_response = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!stream.next_request(std::chrono::seconds(keep_alive_timeout_sec_), std::chrono::seconds(read_timeout_sec_)))
      break;
    bool closed = false;
    served = process_request(stream, left == 1, closed, nullptr);
    if (!served || closed || close_after_response || stream.timed_out()) break;
  }
  if (close_after_response) {
    // Closing with bytes unread resets the connection, and a reset can destroy
    // the response before the client has read it: discard what still comes
    // for up to a second first, or until the client closes.
    ::shutdown(sock, SHUT_WR);
    const auto until = Clock::now() + std::chrono::seconds(1);
    char sink[16384];
    while (wait_for(sock, POLLIN, until) && receive(sock, sink, sizeof sink) > 0) {
    }
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return served;
}

}  // namespace shim
