"""The int8 builds of each runtime and their accuracy budget (int8_models, accuracy_budget), and
the quantization-aware training case (qat_case)."""
