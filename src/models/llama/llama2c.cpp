#include "ladder/models/llama/llama2c.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "ladder/error.h"
#include "ladder/io/json_file.h"
#include "ladder/models/tensor_io.h"
#include "ladder/tokenizer/llama2c_tokenizer.h"

namespace ladder {
namespace fs = std::filesystem;

namespace {

// llama2.c's later export formats start with this magic ("ak42"); run.c reads only the legacy one.
constexpr int32_t kVersionedMagic = 0x616b3432;

struct Header {
  int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

// llama2.c rotates the adjacent pairs (2i, 2i+1) of each head; Hugging Face rotates (i, i + h/2).
// Reordering each head's rows evens-then-odds makes the two the same computation.
torch::Tensor to_rotate_half(const torch::Tensor& w, int64_t heads) {
  const int64_t rows = w.size(0), cols = w.size(1);
  return w.reshape({heads, rows / heads / 2, 2, cols}).transpose(1, 2).reshape({rows, cols}).contiguous();
}

}  // namespace

Llama2cCheckpoint read_llama2c(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FormatError(path + ": cannot open the llama2.c checkpoint");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < sizeof(Header))
    throw FormatError(path + ": " + std::to_string(bytes.size()) + " bytes, too short for a llama2.c header (28 bytes)");
  Header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  if (h.dim == kVersionedMagic)
    throw FormatError(path + ": a versioned llama2.c export (magic \"ak42\"); ladder reads the legacy format run.c "
                             "reads (export with --version 0)");
  const int32_t fields[] = {h.dim, h.hidden_dim, h.n_layers, h.n_heads, h.n_kv_heads, h.seq_len};
  const char* names[] = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "seq_len"};
  for (int i = 0; i < 6; ++i)
    if (fields[i] <= 0 || fields[i] > (1 << 20))
      throw FormatError(path + ": header field " + names[i] + " is " + std::to_string(fields[i]) +
                        " (not a llama2.c checkpoint?)");
  if (h.vocab_size == 0 || h.vocab_size < -(1 << 24) || h.vocab_size > (1 << 24))
    throw FormatError(path + ": header vocab_size is " + std::to_string(h.vocab_size));
  if (h.dim % h.n_heads != 0 || h.n_heads % h.n_kv_heads != 0 || (h.dim / h.n_heads) % 2 != 0)
    throw FormatError(path + ": dim " + std::to_string(h.dim) + ", n_heads " + std::to_string(h.n_heads) +
                      ", n_kv_heads " + std::to_string(h.n_kv_heads) +
                      " do not describe whole, even-sized heads shared by whole groups");
  const bool tied = h.vocab_size > 0;
  const int64_t vocab = tied ? h.vocab_size : -static_cast<int64_t>(h.vocab_size);
  const int64_t dim = h.dim, hidden = h.hidden_dim, layers = h.n_layers, head = dim / h.n_heads;
  const int64_t kv_dim = head * h.n_kv_heads;

  struct Part {
    std::vector<int64_t> shape;
  };
  // run.c's order; the freq_cis tables of the legacy format sit between the final norm and wcls.
  const std::vector<std::pair<const char*, std::vector<int64_t>>> layout = {
      {"tok_embeddings", {vocab, dim}},     {"rms_att", {layers, dim}},        {"wq", {layers, dim, dim}},
      {"wk", {layers, kv_dim, dim}},        {"wv", {layers, kv_dim, dim}},     {"wo", {layers, dim, dim}},
      {"rms_ffn", {layers, dim}},           {"w1", {layers, hidden, dim}},     {"w2", {layers, dim, hidden}},
      {"w3", {layers, hidden, dim}},        {"rms_final", {dim}},              {"freq_cis", {h.seq_len, head}},
      {"wcls", {tied ? 0 : vocab, dim}},
  };
  int64_t floats = 0;
  for (const auto& [name, shape] : layout) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    floats += n;
  }
  const uint64_t expected = sizeof(Header) + static_cast<uint64_t>(floats) * 4;
  if (bytes.size() != expected)
    throw FormatError(expected_found(path + ": file size", std::to_string(expected) + " bytes for the header's sizes",
                                     std::to_string(bytes.size()) + " bytes",
                                     bytes.size() < expected ? "truncated?" : "another format, or trailing data?"));

  std::map<std::string, torch::Tensor> raw;
  size_t offset = sizeof(Header);
  for (const auto& [name, shape] : layout) {
    torch::Tensor t = torch::empty(shape, torch::kFloat);
    const size_t n = static_cast<size_t>(t.numel()) * 4;
    std::memcpy(t.data_ptr(), bytes.data() + offset, n);
    offset += n;
    raw[name] = t;
  }
  for (const auto& [name, t] : raw)
    if (name != "freq_cis" && t.numel() > 0 && !torch::isfinite(t).all().item<bool>())
      throw FormatError(path + ": tensor " + name + " holds non-finite values");

  Llama2cCheckpoint out;
  LlamaConfig& c = out.config;
  c.model_type = "llama";
  c.vocab_size = vocab;
  c.hidden_size = dim;
  c.intermediate_size = hidden;
  c.num_hidden_layers = layers;
  c.num_attention_heads = h.n_heads;
  c.num_key_value_heads = h.n_kv_heads;
  c.head_dim = head;
  c.max_position_embeddings = h.seq_len;
  c.rms_norm_eps = 1e-5;  // run.c's rmsnorm
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = tied;
  // llama2.c's training data separates texts by <s> alone: its models end a text by predicting
  // <s> (run.c stops there) and never saw </s> (2), whose embedding stays at its initial value.
  c.bos_token_id = 1;
  c.eos_token_ids = {1};
  c.validate(path);

  auto& t = out.tensors;
  t["model.embed_tokens.weight"] = raw["tok_embeddings"];
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t[p + "input_layernorm.weight"] = raw["rms_att"][i].clone();
    t[p + "self_attn.q_proj.weight"] = to_rotate_half(raw["wq"][i], h.n_heads);
    t[p + "self_attn.k_proj.weight"] = to_rotate_half(raw["wk"][i], h.n_kv_heads);
    t[p + "self_attn.v_proj.weight"] = raw["wv"][i].clone();
    t[p + "self_attn.o_proj.weight"] = raw["wo"][i].clone();
    t[p + "post_attention_layernorm.weight"] = raw["rms_ffn"][i].clone();
    t[p + "mlp.gate_proj.weight"] = raw["w1"][i].clone();
    t[p + "mlp.down_proj.weight"] = raw["w2"][i].clone();
    t[p + "mlp.up_proj.weight"] = raw["w3"][i].clone();
  }
  t["model.norm.weight"] = raw["rms_final"];
  if (!tied) t["lm_head.weight"] = raw["wcls"];
  return out;
}

LlamaConfig convert_llama2c(const std::string& path, const std::string& out_dir, const std::string& tokenizer_path) {
  const fs::path dir(out_dir);
  for (const char* file : {"config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json",
                           "tokenizer.model"})
    if (fs::exists(dir / file))
      throw UsageError((dir / file).string() + " exists; convert into a new or empty folder");
  Llama2cCheckpoint checkpoint = read_llama2c(path);
  std::optional<Llama2cTokenizer> tokenizer;
  if (!tokenizer_path.empty()) {
    tokenizer.emplace(Llama2cTokenizer::load(tokenizer_path));
    if (tokenizer->vocab_size() != checkpoint.config.vocab_size)
      throw UsageError(expected_found(tokenizer_path + ": tokens", std::to_string(checkpoint.config.vocab_size) + ", the model's vocabulary",
                                      std::to_string(tokenizer->vocab_size()), "another model's tokenizer? stories260K's is tok512.bin"));
  }
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) throw Error(out_dir + ": cannot create the folder: " + error.message());
  if (tokenizer) tokenizer->write_hugging_face_files(out_dir);
  write_safetensors((dir / "model.safetensors").string(), checkpoint.tensors,
                    {{"format", "pt"}, {"source", "llama2.c " + fs::path(path).filename().string()}});
  // Written last: a folder with config.json is complete.
  write_json_atomically((dir / "config.json").string(), checkpoint.config.to_json());
  return checkpoint.config;
}

}  // namespace ladder
