#pragma once
// An exclusive lock on a run directory for a process's whole run (flock on RUN/.lock, which
// holds the owner's PID). The kernel drops it when the process dies, so a stale lock file of a
// dead process never blocks.
#include <string>

namespace ladder::train {

class RunLock {
 public:
  // Creates `run_dir` if needed and takes the lock; UsageError naming the folder and the PID
  // that holds it when another process does.
  explicit RunLock(const std::string& run_dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace ladder::train
