#include "ladder/dist/environment.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "ladder/error.h"

namespace ladder::dist {
namespace {

int parse_int(const EnvLookup& lookup, const char* name, long low, long high, int fallback) {
  const char* text = lookup(name);
  if (!text) return fallback;
  errno = 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno != 0 || value < low || value > high)
    throw UsageError(expected_found(std::string("environment variable ") + name,
                                    "a whole number in " + std::to_string(low) + ".." + std::to_string(high),
                                    "\"" + std::string(text) + "\""));
  return static_cast<int>(value);
}

}  // namespace

std::string Environment::describe() const {
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (local rank " +
         std::to_string(local_rank) + "), store " + master_addr + ":" + std::to_string(master_port);
}

Environment local_environment(int rank, int world_size, int store_port) {
  Environment env;
  env.rank = rank;
  env.world_size = world_size;
  env.local_rank = rank;
  env.master_port = store_port;
  env.agent_store = true;
  return env;
}

Environment read_environment(const EnvLookup& lookup) {
  Environment env;
  const bool has_rank = lookup("RANK") != nullptr, has_world = lookup("WORLD_SIZE") != nullptr;
  if (!has_rank && !has_world) return env;
  if (has_rank != has_world)
    throw UsageError(std::string("environment: ") + (has_rank ? "RANK" : "WORLD_SIZE") + " is set but " +
                     (has_rank ? "WORLD_SIZE" : "RANK") + " is not (a torchrun-style launch sets both)");
  env.world_size = parse_int(lookup, "WORLD_SIZE", 1, 65536, 1);
  env.rank = parse_int(lookup, "RANK", 0, env.world_size - 1, 0);
  env.local_rank = parse_int(lookup, "LOCAL_RANK", 0, 65535, env.rank);
  if (const char* addr = lookup("MASTER_ADDR")) {
    if (*addr == '\0') throw UsageError("environment variable MASTER_ADDR is empty");
    env.master_addr = addr;
  } else if (env.world_size > 1) {
    throw UsageError("environment: WORLD_SIZE is " + std::to_string(env.world_size) +
                     " but MASTER_ADDR is not set (the host of rank 0's store)");
  }
  if (env.world_size > 1 && !lookup("MASTER_PORT"))
    throw UsageError("environment: WORLD_SIZE is " + std::to_string(env.world_size) + " but MASTER_PORT is not set");
  env.master_port = parse_int(lookup, "MASTER_PORT", 1, 65535, env.master_port);
  if (const char* agent = lookup("TORCHELASTIC_USE_AGENT_STORE")) env.agent_store = std::string(agent) == "True";
  return env;
}

std::pair<std::size_t, std::size_t> shard_range(std::size_t count, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world)
    throw Error("shard_range: rank " + std::to_string(rank) + " of " + std::to_string(world));
  const std::size_t w = static_cast<std::size_t>(world), r = static_cast<std::size_t>(rank);
  const std::size_t base = count / w, extra = count % w;
  const std::size_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

}  // namespace ladder::dist
