#include "ladder/train/interrupt.h"

#include <atomic>
#include <csignal>

namespace ladder::train {
namespace {

// The one process-wide mutable value in ladder: a signal handler can only reach a global,
// and only a lock-free atomic may be touched from it.
std::atomic<int> g_received{0};
static_assert(std::atomic<int>::is_always_lock_free, "the stop flag must be async-signal-safe");

void record_signal(int signal) { g_received.store(signal); }

}  // namespace

StopSignals::StopSignals() {
  g_received.store(0);
  struct sigaction action {};
  action.sa_handler = record_signal;
  sigemptyset(&action.sa_mask);
  // One-shot: the second Ctrl-C takes the default action and ends the process at once.
  action.sa_flags = SA_RESETHAND;
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
}

int StopSignals::received() { return g_received.load(); }

}  // namespace ladder::train
