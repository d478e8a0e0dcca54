#pragma once
// One factory per method; make_method() in method.cpp dispatches on the name.
#include "ladder/methods/method.h"

namespace ladder {

std::unique_ptr<FineTuningMethod> make_lst(T5ForConditionalGeneration backbone, const MethodOptions& options);
std::unique_ptr<FineTuningMethod> make_decoder_only_lst(LlamaForCausalLM backbone, const MethodOptions& options);
std::unique_ptr<FineTuningMethod> make_full(Backbone backbone, const MethodOptions& options);
std::unique_ptr<FineTuningMethod> make_lora(Backbone backbone, const MethodOptions& options);
std::unique_ptr<FineTuningMethod> make_adapter(Backbone backbone, const MethodOptions& options);
std::unique_ptr<FineTuningMethod> make_bitfit(Backbone backbone, const MethodOptions& options);
std::unique_ptr<FineTuningMethod> make_prompt(Backbone backbone, const MethodOptions& options);

// Reads settings[key] or a default, and rejects keys the method does not know.
void check_setting_keys(const nlohmann::json& settings, const std::vector<std::string>& known,
                        const std::string& method);

}  // namespace ladder
