#pragma once
// PyTorch's own distributed engine (c10d) for ladder's data-parallel training: rendezvous
// through a TCPStore, collectives on Gloo (CPU; CUDA tensors staged through host memory) or
// NCCL (CUDA builds configured with LADDER_WITH_NCCL), and the failure reports a user needs: a
// rank that dies or hangs is named, through heartbeats and failure notes kept in the store.
//
// c10d's headers stay inside src/dist: this header needs only torch::Tensor.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "ladder/dist/environment.h"
#include "ladder/error.h"

namespace ladder::dist {

// A collective that failed or timed out; the message names the lost rank where it is known.
class DistributedError : public Error {
 public:
  using Error::Error;
};

struct GroupOptions {
  std::string backend;  // gloo | nccl; "" = nccl on CUDA where this build has it, else gloo
  // How long a collective (and the rendezvous) waits for the other ranks.
  std::chrono::milliseconds timeout = std::chrono::minutes(5);
};

// Whether this build has c10d's Gloo / NCCL process groups.
bool gloo_available();
bool nccl_available();

class ProcessGroup {
 public:
  // Joins the job `env` describes (every rank of it must call this within options.timeout).
  ProcessGroup(const Environment& env, const GroupOptions& options, const torch::Device& device);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int size() const;
  const std::string& backend() const;

  // Sums a contiguous tensor over the ranks, in place. `what` names the step in errors
  // ("the gradient all-reduce of update 12").
  void all_reduce_sum(torch::Tensor& tensor, const std::string& what);
  // Every rank's `mine`, in rank order (through the store: text of any length).
  std::vector<std::string> all_gather(const std::string& what, const std::string& mine);
  void barrier(const std::string& what);
  // Leaves `message` in the store for the other ranks before this one stops with an error.
  void publish_failure(const std::string& message) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The TCPStore a launcher hosts for its workers (torchrun's agent store; `ladder train
// --nproc`): ranks reach it with TORCHELASTIC_USE_AGENT_STORE=True, so it outlives any of them.
class StoreServer {
 public:
  explicit StoreServer(std::chrono::milliseconds timeout);  // on 127.0.0.1, a free port
  ~StoreServer();
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ladder::dist
