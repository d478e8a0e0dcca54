// c10d process groups (Gloo, and NCCL where built). Without c10d's Gloo headers at configure
// time (LADDER_HAS_GLOO unset) every entry point says how to get a build that has them.
#include "ladder/dist/process_group.h"

#include <atomic>
#include <cstdlib>
#include <thread>

#ifdef LADDER_HAS_GLOO
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef LADDER_HAS_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace ladder::dist {

bool gloo_available() {
#ifdef LADDER_HAS_GLOO
  return true;
#else
  return false;
#endif
}

bool nccl_available() {
#ifdef LADDER_HAS_NCCL
  return true;
#else
  return false;
#endif
}

#ifndef LADDER_HAS_GLOO

namespace {
[[noreturn]] void no_engine() {
  throw UsageError("this ladder was built without PyTorch's distributed engine (c10d with Gloo): install "
                   "libgloo-dev (scripts/setup.sh does) and rebuild, or train in one process");
}
}  // namespace

struct ProcessGroup::Impl {};
ProcessGroup::ProcessGroup(const Environment&, const GroupOptions&, const torch::Device&) { no_engine(); }
ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return 0; }
int ProcessGroup::size() const { return 1; }
const std::string& ProcessGroup::backend() const { no_engine(); }
void ProcessGroup::all_reduce_sum(torch::Tensor&, const std::string&) { no_engine(); }
std::vector<std::string> ProcessGroup::all_gather(const std::string&, const std::string&) { no_engine(); }
void ProcessGroup::barrier(const std::string&) { no_engine(); }
void ProcessGroup::publish_failure(const std::string&) noexcept {}
struct StoreServer::Impl {};
StoreServer::StoreServer(std::chrono::milliseconds) { no_engine(); }
StoreServer::~StoreServer() = default;
int StoreServer::port() const { return 0; }

#else

namespace {

using namespace std::chrono_literals;
constexpr auto kHeartbeatInterval = 500ms;
// A rank whose heartbeat has not moved for this long is taken for lost (dead or stopped).
constexpr auto kLostAfter = 3s;

// What a Gloo or NCCL group is: a ProcessGroup in 1.13, a Backend of one since 2.0.
#if TORCH_VERSION_MAJOR >= 2
using GroupBackend = c10d::Backend;
#else
using GroupBackend = c10d::ProcessGroup;
#endif

// libtorch 2.x's TCPStore may use libuv, which Debian's builds do not all carry; the classic
// server is what 1.13 has and what every rank of a job must agree on.
template <typename Options>
auto without_libuv(Options& options, int) -> decltype(options.useLibUV = false, void()) {
  options.useLibUV = false;
}
template <typename Options>
void without_libuv(Options&, long) {}

c10::intrusive_ptr<c10d::Store> connect_store(const std::string& host, int port, bool server,
                                              std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(port);
  options.isServer = server;
  options.waitWorkers = false;  // the process group's own rendezvous waits for every rank
  options.timeout = timeout;
  without_libuv(options, 0);
  return c10::make_intrusive<c10d::TCPStore>(host, options);
}

std::vector<uint8_t> bytes(const std::string& text) { return {text.begin(), text.end()}; }
std::string text(const std::vector<uint8_t>& data) { return {data.begin(), data.end()}; }

bool is_loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0; }

std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string& master_addr) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"); interface && *interface)
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  // One machine: loopback, whatever the host name resolves to.
  if (is_loopback(master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

std::string first_line(const std::string& message) {
  const std::string line = message.substr(0, message.find('\n'));
  return line.size() > 300 ? line.substr(0, 300) + "..." : line;
}

}  // namespace

struct ProcessGroup::Impl {
  Environment env;
  GroupOptions options;
  torch::Device device = torch::kCPU;
  std::string backend;
  c10::intrusive_ptr<c10d::Store> store;  // "ladder/" keys: heartbeats, failures, gathers
  c10::intrusive_ptr<GroupBackend> group;
  std::thread heartbeat;
  std::atomic<bool> stopping{false};
  std::string last_gather_key;  // deleted at the next gather, once every rank has read it

  void beat() {
    // Its own connection: TCPStore clients are not shared between threads.
    c10::intrusive_ptr<c10d::Store> own;
    try {
      own = c10::make_intrusive<c10d::PrefixStore>(
          "ladder", connect_store(env.master_addr, env.master_port, false, options.timeout));
      for (int64_t beat = 1; !stopping; ++beat) {
        own->set("alive/" + std::to_string(env.rank), bytes(std::to_string(beat)));
        for (auto slept = 0ms; slept < kHeartbeatInterval && !stopping; slept += 50ms) std::this_thread::sleep_for(50ms);
      }
    } catch (const std::exception&) {
      // The store is gone (its host ended): the collectives report it.
    }
  }

  // Why a collective failed, as far as the store can tell.
  std::string diagnose(const std::string& what, const std::string& cause) {
    const std::string where = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + ", " + what;
    std::vector<std::string> lost, failed;
    try {
      for (int r = 0; r < env.world_size; ++r) {
        const std::string key = "failed/" + std::to_string(r);
        if (r != env.rank && store->check({key})) failed.push_back("rank " + std::to_string(r) + " stopped: " + text(store->get(key)));
      }
      if (failed.empty()) {
        const auto read_beats = [&] {
          std::vector<std::string> beats(static_cast<std::size_t>(env.world_size));
          for (int r = 0; r < env.world_size; ++r) {
            const std::string key = "alive/" + std::to_string(r);
            if (store->check({key})) beats[static_cast<std::size_t>(r)] = text(store->get(key));
          }
          return beats;
        };
        const auto before = read_beats();
        std::this_thread::sleep_for(kLostAfter);
        const auto after = read_beats();
        for (int r = 0; r < env.world_size; ++r)
          if (r != env.rank && before[static_cast<std::size_t>(r)] == after[static_cast<std::size_t>(r)])
            lost.push_back(std::to_string(r));
      }
    } catch (const std::exception&) {
      return "lost rank 0 or the launcher: the store at " + env.master_addr + ":" + std::to_string(env.master_port) +
             " (hosted by " + (env.agent_store ? "the launcher" : "rank 0") + ") is gone (" + where + ": " +
             first_line(cause) + ")";
    }
    if (!failed.empty()) {
      std::string message = failed.front();
      for (std::size_t i = 1; i < failed.size(); ++i) message += "; " + failed[i];
      return message + " (" + where + ")";
    }
    if (!lost.empty()) {
      std::string ranks = lost.front();
      for (std::size_t i = 1; i < lost.size(); ++i) ranks += ", " + lost[i];
      return std::string("lost rank") + (lost.size() > 1 ? "s " : " ") + ranks +
             " (its process ended or stopped responding: no heartbeat for " + std::to_string(kLostAfter.count()) +
             " s) during " + what + "; rank " + std::to_string(env.rank) + " stops too (c10d: " + first_line(cause) + ")";
    }
    return "timed out or failed during " + what + " with every rank alive (" + where + ", timeout " +
           std::to_string(options.timeout.count() / 1000) + " s; a rank stuck in a long step?) (c10d: " +
           first_line(cause) + ")";
  }

  void wait(const c10::intrusive_ptr<c10d::Work>& work, const std::string& what) {
    try {
      work->wait(options.timeout);
    } catch (const std::exception& e) {
      throw DistributedError(diagnose(what, e.what()));
    }
  }
};

ProcessGroup::ProcessGroup(const Environment& env, const GroupOptions& options, const torch::Device& device)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.env = env;
  m.options = options;
  m.device = device;
  m.backend = options.backend.empty() ? (device.is_cuda() && nccl_available() ? "nccl" : "gloo") : options.backend;
  if (m.backend != "gloo" && m.backend != "nccl")
    throw UsageError(expected_found("--dist-backend", "gloo or nccl", "\"" + m.backend + "\""));
  if (m.backend == "nccl" && !device.is_cuda()) throw UsageError("--dist-backend nccl needs --device cuda (use gloo on the CPU)");
  if (m.backend == "nccl" && !nccl_available())
    throw UsageError("--dist-backend nccl: this build has no NCCL process group (configure with -DLADDER_WITH_NCCL=ON "
                     "against a CUDA libtorch); gloo works on CUDA too, through host memory");
  const std::string rendezvous = "rendezvous with " + std::to_string(env.world_size) + " ranks at " + env.master_addr + ":" +
                                 std::to_string(env.master_port);
  c10::intrusive_ptr<c10d::Store> tcp;
  try {
    tcp = connect_store(env.master_addr, env.master_port, env.rank == 0 && !env.agent_store, options.timeout);
  } catch (const std::exception& e) {
    throw DistributedError(rendezvous + " (" + env.describe() + "): cannot reach the store: " + first_line(e.what()));
  }
  m.store = c10::make_intrusive<c10d::PrefixStore>("ladder", tcp);
  m.heartbeat = std::thread([&m] { m.beat(); });
  auto group_store = c10::make_intrusive<c10d::PrefixStore>("pg", tcp);
  try {
#ifdef LADDER_HAS_NCCL
    if (m.backend == "nccl") {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = options.timeout;
      m.group = c10::make_intrusive<c10d::ProcessGroupNCCL>(group_store, env.rank, env.world_size, nccl_options);
    }
#endif
    if (m.backend == "gloo") {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(options.timeout);
      gloo_options->devices.push_back(gloo_device(env.master_addr));
      gloo_options->threads = 2;
      m.group = c10::make_intrusive<c10d::ProcessGroupGloo>(group_store, env.rank, env.world_size, gloo_options);
    }
  } catch (const std::exception& e) {
    m.stopping = true;
    m.heartbeat.join();
    throw DistributedError(rendezvous + " (" + env.describe() + "): not every rank joined within " +
                           std::to_string(options.timeout.count() / 1000) + " s (" + first_line(e.what()) + ")");
  }
}

ProcessGroup::~ProcessGroup() {
  if (!impl_) return;
  impl_->stopping = true;
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
}

int ProcessGroup::rank() const { return impl_->env.rank; }
int ProcessGroup::size() const { return impl_->env.world_size; }
const std::string& ProcessGroup::backend() const { return impl_->backend; }

void ProcessGroup::all_reduce_sum(torch::Tensor& tensor, const std::string& what) {
  if (!tensor.is_contiguous()) throw Error("all_reduce_sum: the tensor must be contiguous");
  // Gloo reduces host memory (Debian's libtorch has no CUDA Gloo): CUDA tensors go through it.
  const bool staged = impl_->backend == "gloo" && tensor.is_cuda();
  std::vector<at::Tensor> tensors{staged ? tensor.cpu() : tensor};
  c10d::AllreduceOptions options;
  options.reduceOp = c10d::ReduceOp::SUM;
  impl_->wait(impl_->group->allreduce(tensors, options), what);
  if (staged) tensor.copy_(tensors[0]);
}

std::vector<std::string> ProcessGroup::all_gather(const std::string& what, const std::string& mine) {
  Impl& m = *impl_;
  const std::string tag = "gather/" + what + "/";
  std::vector<std::string> all(static_cast<std::size_t>(m.env.world_size));
  try {
    // Every rank read the previous gather before it could reach this one.
    if (!m.last_gather_key.empty()) m.store->deleteKey(m.last_gather_key);
    m.last_gather_key = tag + std::to_string(m.env.rank);
    m.store->set(m.last_gather_key, bytes(mine));
  } catch (const std::exception& e) {
    throw DistributedError(m.diagnose("gathering " + what, e.what()));
  }
  // Past the barrier every key is there: a lost rank fails the barrier at once, where a wait
  // on its key in the store would take the whole timeout.
  barrier("gathering " + what);
  try {
    for (int r = 0; r < m.env.world_size; ++r) all[static_cast<std::size_t>(r)] = text(m.store->get(tag + std::to_string(r)));
  } catch (const std::exception& e) {
    throw DistributedError(m.diagnose("gathering " + what, e.what()));
  }
  // Nobody deletes a key before every rank has read it.
  barrier("gathering " + what);
  return all;
}

void ProcessGroup::barrier(const std::string& what) {
  c10d::BarrierOptions options;
  options.timeout = impl_->options.timeout;
  impl_->wait(impl_->group->barrier(options), what);
}

void ProcessGroup::publish_failure(const std::string& message) noexcept {
  try {
    impl_->store->set("failed/" + std::to_string(impl_->env.rank), bytes(first_line(message)));
  } catch (...) {
    // The store is gone too: the others find this rank lost instead.
  }
}

struct StoreServer::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

StoreServer::StoreServer(std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
  c10d::TCPStoreOptions options;
  options.port = 0;  // a free one
  options.isServer = true;
  options.waitWorkers = false;
  options.timeout = timeout;
  without_libuv(options, 0);
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
  } catch (const std::exception& e) {
    throw DistributedError("cannot start the workers' store on 127.0.0.1: " + first_line(e.what()));
  }
}

StoreServer::~StoreServer() = default;
int StoreServer::port() const { return impl_->store->getPort(); }

#endif

}  // namespace ladder::dist
