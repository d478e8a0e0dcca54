// Temporary: the baseline methods are being written; this file is deleted when they land.
#include "ladder/error.h"
#include "ladder/methods/factories.h"

namespace ladder {

#define LADDER_STUB(fn) \
  std::unique_ptr<FineTuningMethod> fn(T5ForConditionalGeneration, const MethodOptions&) { throw Error(#fn " not implemented yet"); }
LADDER_STUB(make_full)
LADDER_STUB(make_lora)
LADDER_STUB(make_adapter)
LADDER_STUB(make_bitfit)
LADDER_STUB(make_prompt)

}  // namespace ladder
