// libFuzzer target: a model folder's config.json (T5Config::from_json, as from_file reads it).
// src/models/t5/config.cpp is torch-free but belongs to the torch library, so CMake compiles
// it into this target directly. An accepted config is written back with to_json(), which must
// parse again to the same architecture.
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "ladder/models/t5/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  ladder_fuzz::guarded([&] {
    const nlohmann::json json = nlohmann::json::parse(data, data + size);
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
