#pragma once
// Where this process stands in a data-parallel job, read from the variables torchrun (and
// SLURM wrappers, and `ladder train --nproc`) set, and how a global batch is cut between the
// ranks. Torch-free: the launcher and the tests read it without libtorch.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

namespace ladder::dist {

struct Environment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // TORCHELASTIC_USE_AGENT_STORE=True (torchrun, `ladder train --nproc`): the launcher hosts
  // the TCPStore and every rank, rank 0 included, connects to it as a client.
  bool agent_store = false;

  bool distributed() const { return world_size > 1; }
  std::string describe() const;  // "rank 1 of 2 (local rank 1), store 127.0.0.1:29500"
};

// Rank `rank` of `world_size` on this machine, around a store a launcher hosts on 127.0.0.1
// at `store_port` (what `ladder train --nproc` gives each worker through the environment).
Environment local_environment(int rank, int world_size, int store_port);

// Lookup of one variable: nullptr when unset (std::getenv in production).
using EnvLookup = std::function<const char*(const char*)>;

// Unset RANK and WORLD_SIZE: a single process. Otherwise every value must parse and fit
// (0 <= RANK < WORLD_SIZE, a port in 1..65535); UsageError naming the variable when not.
Environment read_environment(const EnvLookup& lookup);

// The contiguous slice [begin, end) of `count` items that `rank` of `world` takes: the first
// count % world ranks take one more. Concatenated in rank order the slices are the items in
// order, so N ranks see exactly the examples one process sees.
std::pair<std::size_t, std::size_t> shard_range(std::size_t count, int rank, int world);

}  // namespace ladder::dist
