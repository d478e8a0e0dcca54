#pragma once
// `ladder train --nproc N`: N local workers of the same command, started the way torchrun
// starts them (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
// TORCHELASTIC_USE_AGENT_STORE=True), around a store this launcher hosts.
#include <chrono>
#include <ostream>
#include <string>
#include <vector>

#include "ladder/error.h"

namespace ladder::dist {

// Some worker ended badly; exit_code is what the launcher should exit with.
class WorkersFailed : public Error {
 public:
  WorkersFailed(int exit_code, const std::string& message) : Error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

struct LaunchOptions {
  int workers = 2;
  std::vector<std::string> arguments;  // each worker runs this program (/proc/self/exe) with these
  // Once one worker has failed, how long the others get to notice and stop on their own
  // before they are terminated.
  std::chrono::milliseconds grace = std::chrono::seconds(60);
};

// Starts the workers (each in its own process group: SIGINT and SIGTERM reach them once,
// forwarded from here) and waits for all of them. Returns when every one exited 0; otherwise
// WorkersFailed, with the exit code of the first to fail (130/143 when they were interrupted).
void run_local_workers(const LaunchOptions& options, std::ostream* log);

// `arguments` without "--nproc N" / "--nproc=N".
std::vector<std::string> without_option(const std::vector<std::string>& arguments, const std::string& option);

}  // namespace ladder::dist
