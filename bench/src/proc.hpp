// What /proc says about a process: its resident memory and CPU time.
#pragma once

#include <atomic>
#include <thread>

namespace bench {

struct Rss {
  long rss_kb = 0;    // VmRSS: all resident pages
  long hwm_kb = 0;    // VmHWM: the peak of VmRSS
  long anon_kb = 0;   // RssAnon: private memory, where a leak shows
  long shmem_kb = 0;  // RssShmem: shared memory touched (a backend's shared buffers)
};
Rss read_rss(int pid);

// User plus system CPU time a process has used, in seconds (0 once gone).
double cpu_seconds(int pid);

// The parent of a process (0 once gone).
int parent_pid(int pid);

// CPU time of a PostgreSQL server, in seconds: its postmaster's, its live
// children's, and that of the children it has reaped (0 once gone).
double server_cpu_seconds(int postmaster_pid);

// Samples a process's VmRSS every 100 ms while alive; keeps the largest.
class RssSampler {
 public:
  explicit RssSampler(int pid);
  ~RssSampler();
  long peak_kb() const { return peak_kb_; }

 private:
  std::atomic<bool> running_{true};
  std::atomic<long> peak_kb_{0};
  std::thread thread_;
};

}  // namespace bench
