#include "http_server.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>

namespace vox {

namespace {

using Clock = std::chrono::steady_clock;

// An idle connection gives its worker up to a waiting one after this long.
constexpr auto kYieldAfter = std::chrono::milliseconds(200);
constexpr auto kIdleSlice = std::chrono::milliseconds(50);

// Waits until `sock` is ready for `events`, or false once `until` has passed
// (never before: the milliseconds left are rounded up, so that a caller
// timing the wait sees all of it, as vox-relay's slow-client check does).
bool wait_for(socket_t sock, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return false;
    pollfd fd{sock, events, 0};
    const int ready = poll(&fd, 1, int(std::min<long long>(left, 60000)));
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

ssize_t receive(socket_t sock, char* data, size_t size, int flags = 0) {
  ssize_t n;
  do n = recv(sock, data, size, flags);
  while (n < 0 && errno == EINTR);
  return n;
}

ssize_t send_all(socket_t sock, const char* data, size_t size, int flags = 0) {
  ssize_t n;
  do n = send(sock, data, size, MSG_NOSIGNAL | flags);
  while (n < 0 && errno == EINTR);
  return n;
}

bool would_block() { return errno == EAGAIN || errno == EWOULDBLOCK; }

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

// A connection as httplib reads and writes it: buffered reads against one
// deadline per request, the head of each request bounded as it is read, and
// writes that each wait at most the write timeout.
class ConnectionStream : public httplib::Stream {
 public:
  ConnectionStream(socket_t sock, std::chrono::seconds write_timeout, HeadLimits limits)
      : sock_(sock), write_timeout_(write_timeout), limits_(limits), head_(limits), opened_(Clock::now()) {}

  // Waits up to `idle` for the next request, which then has `budget` to
  // arrive whole; false when none came, or when give_up() said so after
  // kYieldAfter of waiting.
  bool next_request(std::chrono::seconds idle, std::chrono::seconds budget, const std::function<bool()>& give_up) {
    if (start_ == end_) {
      const auto until = Clock::now() + idle;
      const auto yield_after = Clock::now() + kYieldAfter;
      for (;;) {
        const auto now = Clock::now();
        if (now >= until || (now >= yield_after && give_up())) return false;
        if (wait_for(sock_, POLLIN, std::min(until, now + kIdleSlice))) break;
      }
    }
    deadline_ = Clock::now() + budget;
    head_ = RequestHead(limits_);
    return true;
  }
  // A read gave up at the deadline: what is left of the request is unread.
  bool timed_out() const { return timed_out_; }
  bool head_too_large() const { return head_.too_large(); }

  bool is_readable() const override { return start_ < end_; }
  bool wait_readable() const override { return start_ < end_ || wait_for(sock_, POLLIN, deadline_); }
  bool wait_writable() const override { return wait_for(sock_, POLLOUT, Clock::now() + write_timeout_); }
  // Asked between the pieces of a streamed response (vox-relay's feeds): as
  // httplib's own stream answers it, a peer that closed its end is gone. Not
  // bound by the read deadline, which is the request's.
  bool is_peer_alive() const override {
    if (start_ < end_) return true;
    pollfd fd{sock_, POLLIN, 0};
    const int ready = poll(&fd, 1, 0);
    if (ready <= 0) return ready == 0 || errno == EINTR;
    char c;
    ssize_t n;
    do n = recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }
  ssize_t read(char* data, size_t size) override {
    if (head_.too_large()) return -1;
    if (start_ == end_) {
      // What has already arrived is read without a poll first (a request
      // mostly has); past the deadline nothing is.
      if (Clock::now() >= deadline_) {
        timed_out_ = true;
        return -1;
      }
      ssize_t n = receive(sock_, buffer_, sizeof buffer_, MSG_DONTWAIT);
      if (n < 0 && would_block()) {
        if (!wait_for(sock_, POLLIN, deadline_)) {
          timed_out_ = true;
          return -1;
        }
        n = receive(sock_, buffer_, sizeof buffer_);
      }
      if (n <= 0) return n;
      start_ = 0;
      end_ = size_t(n);
    }
    size_t n = std::min(size, end_ - start_);
    if (!head_.complete()) {
      size_t taken = 0;
      for (; taken < n && !head_.complete(); ++taken)
        if (!head_.take(buffer_[start_ + taken])) return -1;
      n = taken;
    }
    std::memcpy(data, buffer_ + start_, n);
    start_ += n;
    return ssize_t(n);
  }
  // A response mostly fits in the socket's buffer: the poll is only for one
  // that does not.
  ssize_t write(const char* data, size_t size) override {
    const ssize_t n = send_all(sock_, data, size, MSG_DONTWAIT);
    if (n >= 0 || !would_block()) return n;
    if (!wait_writable()) return -1;
    return send_all(sock_, data, size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(getpeername, sock_, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(getsockname, sock_, ip, port); }
  socket_t socket() const override { return sock_; }
  time_t duration() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - opened_).count();
  }

 private:
  const socket_t sock_;
  const std::chrono::seconds write_timeout_;
  const HeadLimits limits_;
  RequestHead head_;
  const Clock::time_point opened_;
  Clock::time_point deadline_;
  bool timed_out_ = false;
  char buffer_[4096];
  size_t start_ = 0, end_ = 0;
};

// The connection being served on this thread, and whether to close it after
// the response being sent.
thread_local const ConnectionStream* current_stream = nullptr;
thread_local bool close_after_response = false;

// Closing with bytes unread resets the connection, and a reset can destroy
// the response before the client has read it: what still comes is discarded
// first, for up to `wait` or until the client closes.
void drain_and_close(socket_t sock, std::chrono::milliseconds wait) {
  ::shutdown(sock, SHUT_WR);
  const auto until = Clock::now() + wait;
  char sink[16384];
  while (wait_for(sock, POLLIN, until) && receive(sock, sink, sizeof sink) > 0) {
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

// The answer to a connection over its address's limit, sent without reading
// the request (no worker is spent on it).
void refuse_connection(socket_t sock) {
  static const std::string body = R"({"error":"too many connections from this address"})";
  static const std::string response = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                      "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                                      std::to_string(body.size()) + "\r\n\r\n" + body;
  if (wait_for(sock, POLLOUT, Clock::now() + std::chrono::milliseconds(100)))
    send_all(sock, response.data(), response.size());
  drain_and_close(sock, std::chrono::milliseconds(100));
}

}  // namespace

void close_after(httplib::Response& response) {
  close_after_response = true;
  response.set_header("Connection", "close");
}

HttpServer::HttpServer(ConnectionSettings settings)
    : settings_(std::move(settings)),
      connection_limit_(settings_.max_connections_per_address, settings_.exempt_addresses) {
  new_task_queue = [this] {
    auto* pool = new BoundedWorkerPool(settings_.worker_threads, settings_.queue_limit);
    pool_ = pool;
    return pool;
  };
}

void HttpServer::set_request_logger(httplib::Logger logger) {
  // httplib marks every response after which it will not read another
  // request (errors, Connection: close) with Connection: close; it does not
  // always close the connection itself.
  set_logger([logger = std::move(logger)](const httplib::Request& request, const httplib::Response& response) {
    if (response.get_header_value("Connection") == "close") close_after_response = true;
    logger(request, response);
  });
}

void HttpServer::set_error_response(HandlerWithResponse handler) {
  // httplib answers 400 to a head it could not read; this one was too large.
  set_error_handler([handler = std::move(handler)](const httplib::Request& request, httplib::Response& response) {
    if (current_stream && current_stream->head_too_large()) response.status = 431;
    return handler(request, response);
  });
}

// httplib's own loop (detail::process_server_socket), but with a
// ConnectionStream and the connection limit.
bool HttpServer::process_and_close_socket(socket_t sock) {
  std::string remote_addr, local_addr;
  int remote_port = 0, local_port = 0;
  address_of(getpeername, sock, remote_addr, remote_port);
  address_of(getsockname, sock, local_addr, local_port);
  const ConnectionLimit::Slot slot = connection_limit_.enter(remote_addr);
  if (!slot) {
    refuse_connection(sock);
    return false;
  }
  ConnectionStream stream(sock, std::chrono::seconds(write_timeout_sec_), settings_.head);
  current_stream = &stream;
  close_after_response = false;
  const auto give_up = [this] {
    BoundedWorkerPool* pool = pool_;
    return svr_sock_ == INVALID_SOCKET || (pool && pool->waiting() > 0);
  };
  bool served = false, maybe_unread = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!stream.next_request(std::chrono::seconds(keep_alive_timeout_sec_), std::chrono::seconds(read_timeout_sec_),
                             give_up))
      break;
    bool closed = false;
    served = process_request(stream, remote_addr, remote_port, local_addr, local_port, left == 1, closed, nullptr);
    if (!served || closed || close_after_response || stream.timed_out() || stream.head_too_large()) {
      maybe_unread = true;
      break;
    }
  }
  current_stream = nullptr;
  if (maybe_unread) {
    drain_and_close(sock, std::chrono::seconds(1));
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return served;
}

}  // namespace vox
