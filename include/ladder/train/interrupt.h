#pragma once
// SIGINT/SIGTERM handling for training. The handler only records the signal in an atomic
// flag (the one piece of process-wide state in ladder: a signal handler has nowhere else to
// write); the trainer polls it between updates, saves last/ and throws TrainingInterrupted,
// and the CLI turns that into exit code 130 (SIGINT) or 143 (SIGTERM).
#include <csignal>

#include "ladder/error.h"

namespace ladder::train {

// Installs the handlers for the lifetime of the object and restores the previous ones after.
// A second signal of the same kind gets the default action (Ctrl-C twice kills at once).
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // The signal received since installation, or 0.
  static int received();

 private:
  struct sigaction previous_int_ {}, previous_term_ {};
};

class TrainingInterrupted : public Error {
 public:
  TrainingInterrupted(int signal, const std::string& message) : Error(message), signal_(signal) {}
  int signal() const { return signal_; }
  int exit_code() const { return 128 + signal_; }

 private:
  int signal_;
};

}  // namespace ladder::train
