// The torchrun environment a data-parallel rank reads, and the slices of a global batch.
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "expect_error.h"
#include "ladder/dist/environment.h"
#include "ladder/error.h"

namespace ladder::dist {
namespace {

using test::contains;
using test::error_of;

EnvLookup lookup_in(const std::map<std::string, std::string>& variables) {
  return [variables](const char* name) -> const char* {
    auto it = variables.find(name);
    return it == variables.end() ? nullptr : it->second.c_str();
  };
}

const std::map<std::string, std::string> kTorchrun = {{"RANK", "1"},          {"WORLD_SIZE", "4"},
                                                      {"LOCAL_RANK", "1"},    {"MASTER_ADDR", "node0"},
                                                      {"MASTER_PORT", "29400"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}};

TEST(DistEnvironment, UnsetIsOneProcess) {
  const Environment env = read_environment(lookup_in({}));
  EXPECT_FALSE(env.distributed());
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
}

TEST(DistEnvironment, ReadsTorchrunsVariables) {
  const Environment env = read_environment(lookup_in(kTorchrun));
  EXPECT_TRUE(env.distributed());
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.world_size, 4);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "node0");
  EXPECT_EQ(env.master_port, 29400);
  EXPECT_TRUE(env.agent_store);
  EXPECT_EQ(env.describe(), "rank 1 of 4 (local rank 1), store node0:29400");
  auto plain = kTorchrun;  // a shell loop: rank 0 hosts the store itself
  plain.erase("TORCHELASTIC_USE_AGENT_STORE");
  plain.erase("LOCAL_RANK");
  const Environment loop = read_environment(lookup_in(plain));
  EXPECT_FALSE(loop.agent_store);
  EXPECT_EQ(loop.local_rank, 1);  // defaults to RANK
  const Environment worker = local_environment(1, 3, 4242);  // what --nproc's launcher sets
  EXPECT_EQ(worker.describe(), "rank 1 of 3 (local rank 1), store 127.0.0.1:4242");
  EXPECT_TRUE(worker.agent_store);
  // torchrun --nproc-per-node 1 sets WORLD_SIZE=1: one process.
  EXPECT_FALSE(read_environment(lookup_in({{"RANK", "0"}, {"WORLD_SIZE", "1"}})).distributed());
}

TEST(DistEnvironment, BadValuesNameTheVariable) {
  const auto error_with = [](std::map<std::string, std::string> variables) {
    return error_of<UsageError>([&] { read_environment(lookup_in(variables)); });
  };
  auto v = kTorchrun;
  v["RANK"] = "4";
  EXPECT_TRUE(contains(error_with(v), "RANK")) << error_with(v);
  EXPECT_TRUE(contains(error_with(v), "0..3"));
  v = kTorchrun;
  v["WORLD_SIZE"] = "two";
  EXPECT_TRUE(contains(error_with(v), "WORLD_SIZE: expected a whole number"));
  v = kTorchrun;
  v["MASTER_PORT"] = "70000";
  EXPECT_TRUE(contains(error_with(v), "MASTER_PORT"));
  v = kTorchrun;
  v["RANK"] = "";
  EXPECT_TRUE(contains(error_with(v), "RANK"));
  v = kTorchrun;
  v.erase("MASTER_ADDR");
  EXPECT_TRUE(contains(error_with(v), "MASTER_ADDR is not set"));
  v = kTorchrun;
  v.erase("MASTER_PORT");
  EXPECT_TRUE(contains(error_with(v), "MASTER_PORT is not set"));
  v = kTorchrun;
  v.erase("WORLD_SIZE");
  EXPECT_TRUE(contains(error_with(v), "RANK is set but WORLD_SIZE is not"));
}

TEST(DistShard, SlicesConcatenateToTheWholeInOrder) {
  for (std::size_t count : {0u, 1u, 7u, 8u, 9u, 100u})
    for (int world : {1, 2, 3, 8}) {
      std::size_t next = 0, smallest = count, largest = 0;
      for (int rank = 0; rank < world; ++rank) {
        const auto [begin, end] = shard_range(count, rank, world);
        EXPECT_EQ(begin, next) << count << " items, rank " << rank << " of " << world;
        EXPECT_LE(begin, end);
        next = end;
        smallest = std::min(smallest, end - begin);
        largest = std::max(largest, end - begin);
      }
      EXPECT_EQ(next, count);
      EXPECT_LE(largest - std::min(smallest, largest), 1u) << count << " over " << world;
    }
  EXPECT_EQ(shard_range(9, 0, 2), (std::pair<std::size_t, std::size_t>{0, 5}));  // the remainder goes first
  EXPECT_EQ(shard_range(9, 1, 2), (std::pair<std::size_t, std::size_t>{5, 9}));
  EXPECT_EQ(shard_range(1, 1, 2), (std::pair<std::size_t, std::size_t>{1, 1}));  // fewer items than ranks
  EXPECT_THROW(shard_range(4, 2, 2), Error);
}

}  // namespace
}  // namespace ladder::dist
