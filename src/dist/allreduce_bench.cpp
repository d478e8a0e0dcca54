#include "ladder/dist/allreduce_bench.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <iomanip>
#include <sstream>

#include "ladder/dist/gradient_reducer.h"
#include "ladder/dist/process_group.h"
#include "ladder/runtime/memory.h"

namespace ladder::dist {

AllReduceRecord time_gradient_allreduce(const std::string& method, const std::vector<std::vector<int64_t>>& shapes,
                                        int ranks, int steps) {
  if (ranks < 2) throw UsageError("bench allreduce: --ranks must be at least 2");
  if (steps < 1) throw UsageError("bench allreduce: --steps must be at least 1");
  const auto timeout = std::chrono::minutes(5);
  StoreServer store(timeout);
  struct RankResult {
    std::vector<double> seconds;
    int64_t bytes = 0, buckets = 0;
  };
  std::vector<std::future<RankResult>> futures;
  for (int rank = 0; rank < ranks; ++rank) {
    futures.push_back(std::async(std::launch::async, [&, rank] {
      ProcessGroup group(local_environment(rank, ranks, store.port()), GroupOptions{"gloo", timeout}, torch::kCPU);
      std::vector<torch::Tensor> parameters;
      for (const auto& shape : shapes) {
        torch::Tensor p = torch::zeros(shape);
        p.mutable_grad() = torch::ones(shape);
        parameters.push_back(p);
      }
      GradientReducer reducer(group, parameters);
      RankResult result;
      result.bytes = reducer.gradient_bytes();
      result.buckets = reducer.buckets();
      for (int step = 0; step <= steps; ++step) {
        group.barrier("the benchmark's start of a step");
        const auto start = std::chrono::steady_clock::now();
        reducer.reduce({1.0}, "the benchmark's all-reduce");
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (step > 0) result.seconds.push_back(seconds);  // the first one connects and allocates
      }
      return result;
    }));
  }
  std::vector<RankResult> results;
  for (auto& f : futures) results.push_back(f.get());
  // A step lasts as long as its slowest rank.
  std::vector<double> per_step(static_cast<std::size_t>(steps), 0.0);
  for (const auto& r : results)
    for (std::size_t i = 0; i < per_step.size(); ++i) per_step[i] = std::max(per_step[i], r.seconds[i]);
  std::sort(per_step.begin(), per_step.end());
  AllReduceRecord record;
  record.method = method;
  for (const auto& shape : shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    record.trainable_parameters += n;
  }
  record.bytes_per_update = results.front().bytes;
  record.buckets = results.front().buckets;
  record.ranks = ranks;
  record.median_seconds = per_step[per_step.size() / 2];
  return record;
}

std::string format_allreduce_table(const std::vector<AllReduceRecord>& records) {
  int64_t largest = 1;
  for (const auto& r : records) largest = std::max(largest, r.bytes_per_update);
  std::ostringstream out;
  out << "| method | trainable parameters | all-reduced per update | vs the largest | buckets | all-reduce time ("
      << (records.empty() ? 0 : records.front().ranks) << " ranks, loopback) |\n|---|---:|---:|---:|---:|---:|\n";
  for (const auto& r : records)
    out << "| " << r.method << " | " << r.trainable_parameters << " | " << runtime::format_bytes(r.bytes_per_update) << " | "
        << std::fixed << std::setprecision(4) << static_cast<double>(r.bytes_per_update) / static_cast<double>(largest)
        << "x | " << r.buckets << " | " << std::setprecision(4) << r.median_seconds << " s |\n";
  return out.str();
}

}  // namespace ladder::dist
