// CUDA against the CPU: LST forward, backward and generation (fp32 and bf16), the fused
// attention's bias gradient, one training step of every method, and the allocator's peak
// statistics. Skipped, saying why, where this build or machine has no CUDA.
#include <gtest/gtest.h>
#include <torch/version.h>

#include "ladder/methods/lst.h"
#include "ladder/models/t5/attention_core.h"
#include "ladder/models/t5/load.h"
#include "ladder/runtime/memory.h"
#include "test_util.h"

namespace ladder {
namespace {

#define SKIP_WITHOUT_CUDA()                                                                              \
  if (!torch::cuda::is_available() || !runtime::cuda_available())                                      \
  GTEST_SKIP() << "no CUDA here (libtorch " TORCH_VERSION ": torch::cuda::is_available() "              \
               << (torch::cuda::is_available() ? "true" : "false") << ", ladder built with CUDA memory "  \
               << (runtime::cuda_available() ? "on" : "off") << ")"

const torch::Device kCuda(torch::kCUDA, 0);

std::unique_ptr<FineTuningMethod> make_on(const std::string& method, const torch::Device& device,
                                          torch::ScalarType dtype = torch::kFloat, nlohmann::json settings = {}) {
  ModelOptions model_options;
  model_options.device = device;
  model_options.dtype = dtype;
  MethodOptions options;
  options.name = method;
  options.settings = settings.is_null() ? nlohmann::json::object() : settings;
  options.backbone_dtype = dtype;
  options.seed = 3;
  auto m = make_method(load_model(test::fixture_dir("t5-tiny-v1_1"), model_options).model, options);
  m->to(device);
  return m;
}

// The same perturbed side weights on both devices (from one CPU generator).
void perturb(FineTuningMethod& method) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::detail::createCPUGenerator(9);
  for (auto& [name, p] : method.named_trainable())
    p.add_((torch::randn(p.sizes(), gen, torch::kFloat) * 0.2).to(p.device()));
}

Seq2SeqBatch on(const Seq2SeqBatch& b, const torch::Device& device) {
  Seq2SeqBatch out = b;
  for (torch::Tensor* t : {&out.input_ids, &out.attention_mask, &out.labels, &out.decoder_input_ids})
    if (t->defined()) *t = t->to(device);
  return out;
}

void expect_lst_matches_cpu(torch::ScalarType dtype, double logit_tolerance, double grad_tolerance) {
  const nlohmann::json settings = {{"side_init", "magnitude"}, {"reduction", 2}};
  auto cpu = make_on("lst", torch::kCPU, dtype, settings);
  auto gpu = make_on("lst", kCuda, dtype, settings);
  perturb(*cpu);
  perturb(*gpu);
  cpu->set_training(false);
  gpu->set_training(false);
  const Seq2SeqBatch batch = test::golden_batch("t5-tiny-v1_1");
  Seq2SeqOutput a = cpu->forward(batch), b = gpu->forward(on(batch, kCuda));
  EXPECT_LE(test::max_rel_diff(b.logits.cpu(), a.logits), logit_tolerance);
  a.loss.backward();
  b.loss.backward();
  auto cpu_params = cpu->named_trainable(), gpu_params = gpu->named_trainable();
  ASSERT_EQ(cpu_params.size(), gpu_params.size());
  for (size_t i = 0; i < cpu_params.size(); ++i)
    EXPECT_LE(test::max_rel_diff(gpu_params[i].second.grad().cpu(), cpu_params[i].second.grad()), grad_tolerance)
        << cpu_params[i].first;
}

TEST(Cuda, LstForwardAndBackwardEqualTheCpuInFp32) {
  SKIP_WITHOUT_CUDA();
  expect_lst_matches_cpu(torch::kFloat, 1e-4, 1e-3);
}

TEST(Cuda, LstForwardAndBackwardEqualTheCpuWithABf16Backbone) {
  SKIP_WITHOUT_CUDA();
  expect_lst_matches_cpu(torch::kBFloat16, 3e-2, 1e-1);
}

TEST(Cuda, LstGreedyGenerationEqualsTheCpu) {
  SKIP_WITHOUT_CUDA();
  const nlohmann::json settings = {{"side_init", "magnitude"}, {"reduction", 2}};
  auto cpu = make_on("lst", torch::kCPU, torch::kFloat, settings);
  auto gpu = make_on("lst", kCuda, torch::kFloat, settings);
  perturb(*cpu);
  perturb(*gpu);
  cpu->set_training(false);
  gpu->set_training(false);
  const Seq2SeqBatch batch = test::golden_batch("t5-tiny-v1_1");
  GenerationOptions options;
  options.max_new_tokens = 8;
  torch::NoGradGuard no_grad;
  auto a = cpu->start_decoding(batch, true);
  auto b = gpu->start_decoding(on(batch, kCuda), true);
  torch::Tensor ids_cpu = greedy_generate(*a, 3, cpu->config(), options, torch::kCPU);
  torch::Tensor ids_gpu = greedy_generate(*b, 3, gpu->config(), options, kCuda).cpu();
  EXPECT_TRUE(torch::equal(ids_cpu, ids_gpu)) << ids_cpu << ids_gpu;
}

TEST(Cuda, FusedAttentionGivesThePositionBiasGradient) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(4);
  auto make = [](const torch::Device& device) {
    std::vector<torch::Tensor> t = {torch::randn({2, 12, 6, 8}), torch::randn({2, 12, 9, 8}), torch::randn({2, 12, 9, 8}),
                                    torch::randn({1, 12, 6, 9})};
    for (auto& x : t) x = x.to(device).requires_grad_(true);
    return t;
  };
  std::vector<torch::Tensor> gpu = make(kCuda);
  std::vector<torch::Tensor> ref;
  for (const auto& x : gpu) ref.push_back(x.detach().cpu().to(torch::kDouble).requires_grad_(true));
  EXPECT_EQ(choose_attention_kernel(gpu[0], gpu[1], gpu[2], gpu[3], 0.0, true), AttentionKernel::kSdpa);
  torch::Tensor weight = torch::randn({2, 12, 6, 8});
  (attend(gpu[0], gpu[1], gpu[2], gpu[3], 0.0, true) * weight.to(kCuda)).sum().backward();
  torch::Tensor probs = torch::softmax(torch::matmul(ref[0], ref[1].transpose(-1, -2)) + ref[3], -1);
  (torch::matmul(probs, ref[2]) * weight.to(torch::kDouble)).sum().backward();
  for (size_t i = 0; i < gpu.size(); ++i)
    EXPECT_LE(test::max_rel_diff(gpu[i].grad().cpu().to(torch::kDouble), ref[i].grad()), 1e-4) << "input " << i;
}

TEST(Cuda, EveryMethodTrainsAStepAndPeaksAreRead) {
  SKIP_WITHOUT_CUDA();
  const Seq2SeqBatch batch = on(test::golden_batch("t5-tiny-v1_1"), kCuda);
  for (const std::string& name : method_names()) {
    SCOPED_TRACE(name);
    runtime::cuda_reset_peak();
    auto method = make_on(name, kCuda, torch::kFloat, name == "lst" ? nlohmann::json{{"side_init", "magnitude"}} : nlohmann::json{});
    method->set_training(true);
    std::vector<torch::Tensor> before;
    for (auto& t : method->trainable_parameters()) before.push_back(t.detach().clone());
    torch::optim::AdamW optimizer(method->trainable_parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0));
    Seq2SeqOutput out = method->forward(batch);
    ASSERT_TRUE(std::isfinite(out.loss.item<double>()));
    out.loss.backward();
    optimizer.step();
    int changed = 0;
    auto after = method->trainable_parameters();
    for (size_t i = 0; i < after.size(); ++i) {
      EXPECT_TRUE(after[i].is_cuda());
      changed += !torch::equal(after[i], before[i]);
    }
    EXPECT_GT(changed, 0);
    runtime::cuda_synchronize();
    const runtime::CudaMemoryStats stats = runtime::cuda_memory_stats();
    EXPECT_GT(stats.peak_allocated, 0);
    EXPECT_GE(stats.peak_reserved, stats.peak_allocated);
  }
}

}  // namespace
}  // namespace ladder
