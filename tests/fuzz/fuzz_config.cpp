// libFuzzer target: a model folder's config.json (T5Config::from_json, or LlamaConfig::from_json
// for a Llama-family model_type, as from_file reads them). The parsers are torch-free but belong
// to the torch library, so CMake compiles them into this target directly. An accepted config is
// written back with to_json(), which must parse again to the same architecture.
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "ladder/models/llama/config.h"
#include "ladder/models/t5/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  ladder_fuzz::guarded([&] {
    const nlohmann::json json = nlohmann::json::parse(data, data + size);
    if (json.is_object() && json.contains("model_type") && json["model_type"].is_string() &&
        ladder::is_causal_lm_type(json["model_type"].get<std::string>())) {
      const ladder::LlamaConfig config = ladder::LlamaConfig::from_json(json, "fuzz/config.json");
      ladder::LlamaConfig again;
      try {
        again = ladder::LlamaConfig::from_json(nlohmann::json::parse(config.to_json().dump()), "round-trip");
      } catch (const std::exception& error) {
        ladder_fuzz::fail(std::string("LlamaConfig refused its own to_json: ") + error.what());
      }
      if (again.to_json() != config.to_json()) ladder_fuzz::fail("LlamaConfig to_json/from_json changed the config");
      return;
    }
    const ladder::T5Config config = ladder::T5Config::from_json(json, "fuzz/config.json");
    const nlohmann::json written = config.to_json();
    ladder_fuzz::consume(written.dump().size() + config.activation().size() + config.is_gated());
    ladder::T5Config again;
    try {
      again = ladder::T5Config::from_json(nlohmann::json::parse(written.dump()), "round-trip");
    } catch (const std::exception& error) {
      ladder_fuzz::fail(std::string("from_json refused to_json's output: ") + error.what());
    }
    if (again.vocab_size != config.vocab_size || again.d_model != config.d_model ||
        again.d_kv != config.d_kv || again.d_ff != config.d_ff ||
        again.num_layers != config.num_layers || again.num_decoder_layers != config.num_decoder_layers ||
        again.num_heads != config.num_heads || again.feed_forward_proj != config.feed_forward_proj ||
        again.relative_attention_num_buckets != config.relative_attention_num_buckets ||
        again.relative_attention_max_distance != config.relative_attention_max_distance) {
      ladder_fuzz::fail("to_json/from_json changed the architecture");
    }
  });
  return 0;
}
