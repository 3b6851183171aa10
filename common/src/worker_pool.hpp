// The server's worker threads, with a bounded queue: when every worker is busy
// and the queue is full, the accept loop waits instead of piling up
// connections, and the kernel's listen backlog pushes back on clients.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include <httplib.h>

namespace vox {

class BoundedWorkerPool : public httplib::TaskQueue {
 public:
  BoundedWorkerPool(size_t threads, size_t queue_limit);
  bool enqueue(std::function<void()> task) override;
  // Runs what is queued, then joins the workers.
  void shutdown() override;
  // Accepted connections waiting for a worker.
  size_t waiting();

 private:
  void work();

  const size_t queue_limit_;
  std::mutex mutex_;
  std::condition_variable task_ready_, slot_free_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace vox
