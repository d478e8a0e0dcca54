#include "ladder/dist/launcher.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "ladder/dist/process_group.h"
#include "ladder/train/interrupt.h"

extern char** environ;

namespace ladder::dist {
namespace {

using Clock = std::chrono::steady_clock;

struct Worker {
  pid_t pid = -1;
  int rank = 0;
  bool running = true;
  int exit_code = 0;
};

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
  return "ended (status " + std::to_string(status) + ")";
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

bool interrupted(int code) { return code == 128 + SIGINT || code == 128 + SIGTERM; }

pid_t spawn_worker(const std::vector<std::string>& arguments, const std::vector<std::string>& extra_env) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string entry = *e;
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const auto& extra : extra_env) replaced = replaced || extra.substr(0, extra.find('=')) == name;
    if (!replaced) env_strings.push_back(entry);
  }
  env_strings.insert(env_strings.end(), extra_env.begin(), extra_env.end());
  std::vector<char*> argv, envp;
  const std::string program = "/proc/self/exe";
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : arguments) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, program.c_str(), nullptr, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  if (error != 0) throw Error("cannot start a worker (" + program + "): " + std::strerror(error));
  return pid;
}

}  // namespace

std::vector<std::string> without_option(const std::vector<std::string>& arguments, const std::string& option) {
  std::vector<std::string> kept;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    if (arguments[i] == option) {
      ++i;  // and its value
      continue;
    }
    if (arguments[i].rfind(option + "=", 0) == 0) continue;
    kept.push_back(arguments[i]);
  }
  return kept;
}

void run_local_workers(const LaunchOptions& options, std::ostream* log) {
  if (options.workers < 1) throw UsageError("--nproc: at least one worker");
  train::StopSignals signals;  // Ctrl-C reaches the launcher only: forwarded once to every worker
  StoreServer store(options.grace);
  std::vector<Worker> workers(static_cast<std::size_t>(options.workers));
  for (int rank = 0; rank < options.workers; ++rank) {
    const std::vector<std::string> env = {
        "RANK=" + std::to_string(rank),
        "LOCAL_RANK=" + std::to_string(rank),
        "WORLD_SIZE=" + std::to_string(options.workers),
        "LOCAL_WORLD_SIZE=" + std::to_string(options.workers),
        "MASTER_ADDR=127.0.0.1",
        "MASTER_PORT=" + std::to_string(store.port()),
        "TORCHELASTIC_USE_AGENT_STORE=True",
    };
    workers[static_cast<std::size_t>(rank)].rank = rank;
    try {
      workers[static_cast<std::size_t>(rank)].pid = spawn_worker(options.arguments, env);
    } catch (const Error&) {
      for (const Worker& w : workers)
        if (w.pid > 0) kill(w.pid, SIGKILL);
      throw;
    }
  }
  if (log) *log << "launcher: " << options.workers << " workers on 127.0.0.1:" << store.port() << "\n";
  int forwarded = 0;
  std::optional<Clock::time_point> first_failure;
  bool terminated = false, killed = false;
  int failed_rank = -1, failure_code = 0;
  std::string failure;
  for (std::size_t running = workers.size(); running > 0;) {
    if (const int signal = train::StopSignals::received(); signal != 0 && forwarded == 0) {
      forwarded = signal;
      for (const Worker& w : workers)
        if (w.running) kill(w.pid, signal);
    }
    for (Worker& w : workers) {
      if (!w.running) continue;
      int status = 0;
      const pid_t done = waitpid(w.pid, &status, WNOHANG);
      if (done == 0) continue;
      w.running = false;
      --running;
      w.exit_code = done < 0 ? 1 : exit_code_of(status);
      if (w.exit_code != 0 && failed_rank < 0) {
        failed_rank = w.rank;
        failure_code = w.exit_code;
        failure = done < 0 ? std::string("could not be waited for") : describe_status(status);
        first_failure = Clock::now();
      }
    }
    if (first_failure && running > 0) {
      const auto waited = Clock::now() - *first_failure;
      if (!terminated && waited > options.grace) {
        terminated = true;
        for (const Worker& w : workers)
          if (w.running) kill(w.pid, SIGTERM);
      } else if (!killed && waited > options.grace + std::chrono::seconds(10)) {
        killed = true;
        for (const Worker& w : workers)
          if (w.running) kill(w.pid, SIGKILL);
      }
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (failed_rank < 0) return;
  bool all_interrupted = true;
  for (const Worker& w : workers) all_interrupted = all_interrupted && (w.exit_code == 0 || interrupted(w.exit_code));
  if (all_interrupted && interrupted(failure_code))
    throw WorkersFailed(failure_code, "the workers stopped on signal " + std::to_string(failure_code - 128) +
                                          " (rank 0 saved last/; resume with the same command's --resume)");
  throw WorkersFailed(failure_code, "worker rank " + std::to_string(failed_rank) + " " + failure +
                                        (failure.rfind("exited", 0) == 0 ? " (its message is above)" : ""));
}

}  // namespace ladder::dist
