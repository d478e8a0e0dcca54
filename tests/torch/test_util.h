#pragma once
// Helpers shared by the torch test files.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <sys/wait.h>
#include <stdexcept>
#include <string>
#include <vector>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "ladder/models/t5/model.h"
#include "ladder/models/tensor_io.h"

namespace ladder::test {

inline std::string fixture_dir(const std::string& name) {
  return std::string(LADDER_TEST_DATA) + "/fixtures/" + name;
}

// max |a - b| of two tensors of the same shape. Different shapes are a test failure (and
// infinity), never a broadcast that would compare, say, a row against a whole matrix.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) {
    ADD_FAILURE() << "max_abs_diff: shapes differ: " << a.sizes() << " vs " << b.sizes();
    return std::numeric_limits<double>::infinity();
  }
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// max |a - b| / max(|b|), the relative error used for gradients.
inline double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  double scale = b.to(torch::kDouble).abs().max().item<double>();
  return max_abs_diff(a, b) / std::max(scale, 1e-12);
}

// The inputs and labels of a fixture's golden.safetensors.
inline Seq2SeqBatch golden_batch(const std::string& fixture) {
  auto golden = read_safetensors(fixture_dir(fixture) + "/golden.safetensors");
  Seq2SeqBatch batch;
  batch.input_ids = golden.at("input_ids");
  batch.attention_mask = golden.at("attention_mask");
  batch.labels = golden.at("labels");
  return batch;
}

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "ladder-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Single-quoted for /bin/sh.
inline std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

struct CliResult {
  int status = -1;
  std::string out, err;
  int err_lines() const {
    int n = 0;
    for (char c : err) n += c == '\n';
    return n;
  }
};

// Runs the ladder binary (LADDER_CLI) with stdout/stderr captured in files of `dir`.
inline CliResult run_cli(const std::vector<std::string>& args, const TempDir& dir) {
  std::string command = quote(LADDER_CLI);
  for (const auto& a : args) command += " " + quote(a);
  command += " > " + quote(dir / "stdout") + " 2> " + quote(dir / "stderr") + " < /dev/null";
  CliResult result;
  const int raw = std::system(command.c_str());
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  result.out = read_text(dir / "stdout");
  result.err = read_text(dir / "stderr");
  return result;
}

// The tensors of a golden file under `prefix`, with the prefix removed.
inline std::map<std::string, torch::Tensor> with_prefix(const std::map<std::string, torch::Tensor>& all,
                                                        const std::string& prefix) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, t] : all)
    if (name.rfind(prefix, 0) == 0) out[name.substr(prefix.size())] = t;
  return out;
}

}  // namespace ladder::test
