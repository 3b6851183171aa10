#include "worker_pool.hpp"

namespace vox {

BoundedWorkerPool::BoundedWorkerPool(size_t threads, size_t queue_limit) : queue_limit_(queue_limit) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
}

bool BoundedWorkerPool::enqueue(std::function<void()> task) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    slot_free_.wait(lock, [this] { return queue_.size() < queue_limit_ || stopping_; });
    queue_.push_back(std::move(task));
  }
  task_ready_.notify_one();
  return true;
}

size_t BoundedWorkerPool::waiting() {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void BoundedWorkerPool::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  task_ready_.notify_all();
  slot_free_.notify_all();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void BoundedWorkerPool::work() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      task_ready_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and nothing left to serve
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    slot_free_.notify_one();
    task();
  }
}

}  // namespace vox
