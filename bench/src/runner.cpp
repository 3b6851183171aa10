#include "runner.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "proc.hpp"

namespace bench {

RunResult run_mode(const std::string& mode, const Target& target, const std::vector<Delivery>& deliveries,
                   int concurrency, bool synchronous_commit, double max_seconds) {
  using Clock = std::chrono::steady_clock;
  const std::vector<std::vector<const Delivery*>> shares = split_by_call(deliveries, concurrency);
  std::vector<std::vector<uint32_t>> latencies(static_cast<size_t>(concurrency));
  std::atomic<bool> stop{false}, capped{false};
  std::mutex mutex;
  std::condition_variable changed;
  int ready = 0;
  bool go = false;
  std::exception_ptr error;
  Clock::time_point start;
  double server_cpu = 0;  // under mutex

  auto fail = [&](std::exception_ptr e) {
    std::lock_guard<std::mutex> lock(mutex);
    if (!error) error = e;
    stop = true;
    go = true;  // nobody waits for the threads that failed to connect
    changed.notify_all();
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      try {
        // Connecting and preparing are not timed: every thread is ready first.
        std::unique_ptr<Driver> driver = make_driver(mode, target);
        {
          std::unique_lock<std::mutex> lock(mutex);
          if (++ready == concurrency) {
            start = Clock::now();
            go = true;
            changed.notify_all();
          }
          changed.wait(lock, [&] { return go; });
        }
        const auto deadline =
            start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(max_seconds));
        const int pid = driver->backend_pid();
        const double cpu_before = pid ? cpu_seconds(pid) : 0;
        std::vector<uint32_t>& mine = latencies[static_cast<size_t>(t)];
        mine.reserve(shares[static_cast<size_t>(t)].size());
        for (const Delivery* delivery : shares[static_cast<size_t>(t)]) {
          if (stop) break;
          const Clock::time_point before = Clock::now();
          if (before > deadline) {
            capped = true;
            break;
          }
          driver->deliver(*delivery);
          mine.push_back(static_cast<uint32_t>(
              std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - before).count()));
        }
        if (pid) {
          const double used = cpu_seconds(pid) - cpu_before;
          std::lock_guard<std::mutex> lock(mutex);
          server_cpu += used;
        }
      } catch (...) {
        fail(std::current_exception());
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  const Clock::time_point end = Clock::now();
  if (error) std::rethrow_exception(error);

  RunResult result;
  result.mode = mode;
  result.concurrency = concurrency;
  result.synchronous_commit = synchronous_commit;
  result.seconds = std::chrono::duration<double>(end - start).count();
  result.capped = capped;
  result.server_cpu_seconds = server_cpu;
  for (const auto& mine : latencies) result.latencies_us.insert(result.latencies_us.end(), mine.begin(), mine.end());
  result.events = static_cast<int64_t>(result.latencies_us.size());
  return result;
}

}  // namespace bench
