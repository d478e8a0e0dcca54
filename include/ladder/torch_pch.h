#pragma once
// Precompiled header for every torch-using target: parsing torch/torch.h dominates build time.
#include <torch/torch.h>
